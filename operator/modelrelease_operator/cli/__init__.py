"""`kubectl modelrelease`: read and steer ModelReleases from a terminal.

`render` and `commands` are pure (the release as read → text, or → what to send);
`cluster` is the only module that talks to the API server; `plugin` parses the
arguments and ties them together.
"""
