"""One module per resource; each holds thin routes over crud and the gateway client."""
