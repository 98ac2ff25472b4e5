"""The generate form. Field names are the API's parameter names.

Fields only turn text into values; whether a value is allowed is decided by
``soul.params.validate``, the same rules the client and the sandbox follow.
"""

from __future__ import annotations

from math import gcd

from django import forms

from .models import Style
from .soul import params


def size_label(size: str) -> str:
    width, height = params.parse_size(size)
    divisor = gcd(width, height)
    shape = "square" if width == height else ("landscape" if width > height else "portrait")
    return f"{width}×{height} · {width // divisor}:{height // divisor} {shape}"


class StyleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Style) -> str:
        return obj.name

    def to_python(self, value):
        # A malformed id is just another choice that is not on the list.
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            ) from None


class GenerateForm(forms.Form):
    prompt = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "Describe the image you want…", "autofocus": True}
        ),
    )
    width_and_height = forms.ChoiceField(
        label="Size", choices=[(size, size_label(size)) for size in params.SIZES], initial=params.DEFAULT_SIZE
    )
    quality = forms.ChoiceField(
        choices=[(q, q) for q in params.QUALITIES], initial=params.DEFAULT_QUALITY, widget=forms.RadioSelect
    )
    batch_size = forms.TypedChoiceField(
        label="Images",
        choices=[(b, str(b)) for b in params.BATCH_SIZES],
        coerce=int,
        initial=params.DEFAULT_BATCH_SIZE,
        widget=forms.RadioSelect,
    )
    style_id = StyleChoiceField(
        label="Style",
        queryset=Style.objects.filter(is_active=True),
        required=False,
        empty_label="General (default)",
    )
    style_strength = forms.DecimalField(
        label="Style strength",
        required=False,
        max_digits=3,
        decimal_places=2,
        widget=forms.NumberInput(
            attrs={
                "step": "0.01",
                "min": params.STRENGTH_MIN,
                "max": params.STRENGTH_MAX,
                "placeholder": "1.00",
            }
        ),
    )
    seed = forms.IntegerField(
        required=False,
        widget=forms.NumberInput(
            attrs={"min": params.SEED_MIN, "max": params.SEED_MAX, "placeholder": "random"}
        ),
        help_text=f"{params.SEED_MIN}–{params.SEED_MAX:,}; empty for a random seed.",
    )
    enhance_prompt = forms.BooleanField(label="Enhance prompt", required=False)

    def payload(self) -> dict:
        """The request body this form describes (only the fields that parsed)."""
        data = self.cleaned_data
        body = {
            "prompt": data.get("prompt"),
            "width_and_height": data.get("width_and_height"),
            "quality": data.get("quality"),
            "batch_size": data.get("batch_size"),
            "enhance_prompt": data.get("enhance_prompt", False),
        }
        if data.get("seed") is not None:
            body["seed"] = data["seed"]
        if data.get("style_id") is not None:
            body[params.STYLE_FIELD] = str(data["style_id"].pk)
        if data.get("style_strength") is not None:
            body["style_strength"] = data["style_strength"]
        return {name: value for name, value in body.items() if value is not None}

    def clean(self):
        cleaned = super().clean()
        for name, message in params.validate(self.payload()).items():
            field = name if name in self.fields else None
            if field and field in self.errors:
                continue  # the field's own parsing already said what is wrong
            label = self.fields[field].label or field.replace("_", " ").capitalize() if field else name
            self.add_error(field, f"{label} {message}.")
        return cleaned

    def job_set_fields(self) -> dict:
        """Model fields for a new JobSet, from a valid form."""
        data = self.cleaned_data
        return {
            "prompt": data["prompt"],
            "width_and_height": data["width_and_height"],
            "quality": data["quality"],
            "batch_size": data["batch_size"],
            "seed": data.get("seed"),
            "enhance_prompt": data.get("enhance_prompt", False),
            "style": data.get("style_id"),
            "style_strength": data.get("style_strength"),
        }
