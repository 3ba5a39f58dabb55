"""Schema migrations, made by `tortoise makemigrations` (see the Makefile)."""
