"""What people get from a run: the spreadsheet and the run summary."""
