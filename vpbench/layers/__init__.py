"""Building blocks shared by several model families (timm's `layers`): they import nothing of vpbench but the
registry's data classes, and models import them — never one model's private file from another's."""
