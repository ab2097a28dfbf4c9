"""Event triggers (服务营销机会): daily events → rules → tasks at once, inside the contact policy."""
