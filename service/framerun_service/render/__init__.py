"""The render engine: composition → plan → chunks → assembled video.

No Flask and no Cloud Storage here: the same functions run in-process
(``framerun render``) and inside the Cloud Run service.
"""
