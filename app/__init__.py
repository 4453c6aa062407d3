"""refserver: a reference server for the Musubi settlement, Broker Client and Order Entry APIs."""
