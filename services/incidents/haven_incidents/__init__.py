"""Haven incidents: pupils, categories, agencies and the permanent incident record."""
