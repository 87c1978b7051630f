"""The Wyoming server: Home Assistant's voice protocol (TCP 10300) for the speech API, as a client of the gateway."""
