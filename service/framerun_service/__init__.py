"""framerun_service: the render engine (``framerun_service.render``) and, later, the Cloud Run app.

Importing this package is cheap: heavy dependencies (PyAV, the browser) load only
when an engine module that needs them is imported.
"""
