# Repository-level: only what in-repo runs need. The harness plugin itself comes from the
# pytest11 entry point of the installed package.
pytest_plugins = ["pytester"]
