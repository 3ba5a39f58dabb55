from mailroom.cli import main

# Guarded: worker processes are spawned and import the parent's main module.
if __name__ == "__main__":
    main()
