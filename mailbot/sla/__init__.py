"""sla: service hours, the business calendar, the SLA settings and the plan of a ticket."""
