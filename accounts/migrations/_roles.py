"""The roles and what each may do — shared by migration 0002 and the post_migrate handler.

marketer: sees scores, segments, exports (personal data pseudonymised unless granted view_personal_data)
analyst:  + imports data, trains / promotes / scores models
admin:    + personal data, users, roles and tokens (staff in Django's admin)
"""

ROLE_PERMISSIONS = {
    "marketer": ["export_segments"],
    "analyst": ["export_segments", "import_data", "manage_models"],
    "admin": ["export_segments", "import_data", "manage_models", "view_personal_data", "manage_users"],
}

# The admin role is staff and manages users, shops and tokens in Django's admin.
ADMIN_MODEL_PERMISSIONS = [
    ("auth", "view_user"), ("auth", "add_user"), ("auth", "change_user"), ("auth", "view_group"),
    ("accounts", "view_shop"), ("accounts", "change_shop"), ("accounts", "view_job"),
    ("accounts", "view_apitoken"), ("accounts", "change_apitoken"), ("accounts", "view_auditlog"),
]
