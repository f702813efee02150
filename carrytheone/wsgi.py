import os

from django.core.wsgi import get_wsgi_application

from carrytheone.chunked import ChunkedBodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carrytheone.settings")

# Outside Django's middleware: the body must have its length before WSGIRequest reads it.
application = ChunkedBodies(get_wsgi_application())
