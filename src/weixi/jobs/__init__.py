"""Background jobs: long actions of the web app run off the request, with progress."""
