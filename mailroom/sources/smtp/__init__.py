"""The forwarding gateway: an SMTP receiver that members forward and BCC mail to."""
