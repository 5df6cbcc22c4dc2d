/* Placeholder translation unit for a module with no sources yet. */
typedef int lb_empty_translation_unit;
