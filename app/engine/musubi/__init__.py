"""The musubi family's domain: state machines and simulators."""
