"""The governed data-sharing interface (共享接口): token-authenticated HTTP access to the shared warehouse.

Who may read what follows the standards (dataset and column sharing types, agreements in
``standards/agreements``); every request is recorded in ``governance.access_log``; bulk downloads are
intercepted by daily quotas and scan detection. See ``docs/sharing.md``.

The package imports nothing itself, so the publish step uses ``roles`` without loading the web stack; the
app is :func:`governance.sharing.app.create_sharing_app`.
"""
