"""Every command and query of the service, one function each (see the modules beside it)."""

from haven_incidents.service_layer.addenda import add_addendum
from haven_incidents.service_layer.catalogue import create_entry, list_entries, retire_entry
from haven_incidents.service_layer.chronology import list_student_incidents
from haven_incidents.service_layer.incidents import (
    check_incident_access,
    get_incident,
    record_incident,
)
from haven_incidents.service_layer.schools import on_school_created
from haven_incidents.service_layer.students import import_students, search_students
from haven_incidents.service_layer.views import list_incident_views, on_file_downloaded

__all__ = [
    "add_addendum",
    "list_incident_views",
    "on_file_downloaded",
    "retire_entry",
    "create_entry",
    "check_incident_access",
    "get_incident",
    "import_students",
    "list_entries",
    "list_student_incidents",
    "on_school_created",
    "record_incident",
    "search_students",
]
