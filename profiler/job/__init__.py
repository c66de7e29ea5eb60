"""Jobs of several ranks and nodes: the launcher, the job directory, the merge."""
