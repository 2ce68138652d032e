"""One module per framework with the same functions, so the device layer treats them alike."""
