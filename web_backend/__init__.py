"""web_backend: tenants, tutors, avatars, students and sessions, with admin and student pages."""
