"""outbound: rendering, queueing and sending the mail mailbot writes."""
