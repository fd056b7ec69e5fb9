"""The tasks written in each framework: one folder per framework, the same file names in each."""
