"""What a new school starts with, so staff can record a concern on day one."""

DEFAULT_CATEGORIES: tuple[str, ...] = (
    "Physical abuse",
    "Emotional abuse",
    "Sexual abuse",
    "Neglect",
    "Child-on-child abuse",
    "Bullying",
    "Online safety",
    "Self-harm",
    "Mental health",
    "Domestic abuse",
    "Child criminal exploitation",
    "Child sexual exploitation",
    "Radicalisation",
    "Female genital mutilation",
    "Attendance",
    "Family circumstances",
    "Medical",
    "Other",
)

DEFAULT_AGENCIES: tuple[str, ...] = (
    "Children's social care",
    "Police",
    "CAMHS",
    "School nurse",
    "Early help",
    "LADO",
    "NSPCC",
    "Other",
)
