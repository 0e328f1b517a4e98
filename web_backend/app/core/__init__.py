"""Settings, database, security and the gateway client the routes stand on."""
