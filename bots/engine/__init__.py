"""The engine: portal sessions in one browser, the worker loop, what a portal's trouble means."""
