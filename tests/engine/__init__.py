"""Engine policy tests: the real engine, a scripted portal, no browser."""
