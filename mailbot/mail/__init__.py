"""mail: reading one message: parsing, text from HTML, quotes, automated senders,
staff authentication and commands. Pure: nothing here touches the store."""
