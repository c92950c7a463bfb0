"""inbound: mail from the IMAP mailbox into the store, raw, exactly once."""
