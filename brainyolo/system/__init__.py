"""What the machine lets a process use, and where a command's wall time goes."""
