"""The generate form. Field names are the API's parameter names.

Fields only turn text into values; whether a value is allowed is decided by
``soul.params.validate``, the same rules the client and the sandbox follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django import forms
from django.conf import settings
from django.forms.models import ModelChoiceIterator
from django.forms.renderers import Jinja2

from generations.models import JobSet, SoulRequest, Style, exploring
from generations.queries import characters, uploads
from generations.upstream import pictures, references
from generations.web.sizes import size_choices
from soulwire import params

STRENGTH_ATTRS = {"type": "range", "step": "0.01", "min": "0", "max": "1", "class": "slider"}

UPLOADS_OFF = (
    "Uploads are turned off on this site: the gateway could not fetch the image from it. "
    "Paste an image URL instead, or ask an admin to turn uploads on."
)

# The wire contract's messages that speak in its own terms (parameter names, values such as
# "image_url", lists of sizes), said as a person choosing on this form would say them; keyed by
# (parameter, message), or (parameter, None) for any message about it. Any other message is
# shown after the field's label ("Seed must be between 1 and 1,000,000.").
CONTRACT_WORDS = {
    ("prompt", "is required and must be non-empty text"): "Prompt is required: describe the image you want.",
    ("width_and_height", None): "Pick one of the sizes shown.",
    (params.STYLE_FIELD, None): "Pick one of the styles shown.",
    ("quality", None): "Pick 720p or 1080p.",
    ("batch_size", None): "Pick 1 or 4 images.",
    ("custom_reference_id", None): "Pick one of your team's characters, or None.",
    ("image_reference_type", "is required when image_reference_image_url is given"): (
        "Set Image reference to “An image” to use this image, or clear the image URL."
    ),
    ("image_reference_type", None): "Pick “An image (URL or upload)” or None.",
    ("image_reference_image_url", "is required when image_reference_type is given"): (
        "Give an image URL or upload an image, or set Image reference to None."
    ),
    ("image_reference_image_url", None): (
        f"Enter a web address that starts with http:// or https://, at most {params.URL_MAX_LENGTH:,} "
        "characters long."
    ),
}

# Django's own wording for a value not on a list names the value; say what to do instead.
CHOOSE = "Pick one of the choices shown."
STRENGTH_ERRORS = ("invalid", "max_digits", "max_decimal_places", "max_whole_digits")
STRENGTH_WORDS = "Pick a strength from 0.00 to 1.00, in steps of 0.01."
UPLOAD_LINK = (
    "The gateway could not fetch an upload from this site's address. Paste an image URL instead, "
    "or ask an admin."
)


class ListedChoiceIterator(ModelChoiceIterator):
    """Reads the form's styles once, with one plain query.

    Django's iterator goes through ``QuerySet.iterator()``, which on PostgreSQL is
    a server-side cursor: DECLARE, FETCH and CLOSE, three round trips for a dozen
    rows, and again each time the choices are read. Each form has its own copy of
    the queryset, so what this keeps lives as long as the form.
    """

    def _offered(self):
        return self.field.offered if self.field.offered is not None else self.queryset

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self._offered():
            yield self.choice(obj)

    def __len__(self):
        return len(self._offered()) + (self.field.empty_label is not None)

    def __bool__(self):
        return self.field.empty_label is not None or bool(self._offered())


class StyleChoiceField(forms.ModelChoiceField):
    iterator = ListedChoiceIterator
    # The styles to show, when the page has read them already (validation still asks the database).
    offered: list[Style] | None = None

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


class StylesChoiceField(forms.ModelMultipleChoiceField):
    """Several styles (exploring), offered and named as StyleChoiceField offers one."""

    iterator = ListedChoiceIterator
    offered: list[Style] | None = None

    def label_from_instance(self, obj: Style) -> str:
        return obj.name

    def _check_values(self, value):
        # A malformed id (the model field's "is not a valid UUID") is a choice not on the list.
        try:
            return super()._check_values(value)
        except forms.ValidationError as exc:
            if exc.code in ("invalid_choice", "invalid_pk_value", "invalid_list"):
                raise
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            ) from None


def prompt_not_too_long(prompt: str) -> None:
    """The contract's limit (soulwire.params), said to the person who typed the prompt."""
    if len(prompt) > params.PROMPT_MAX_LENGTH:
        raise forms.ValidationError(
            f"A prompt can be at most {params.PROMPT_MAX_LENGTH:,} characters; this one has {len(prompt):,}.",
            code="max_length",
        )


class PromptField(forms.CharField):
    """The prompt as typed: a browser sends each line break as two characters (CR LF) but its
    ``maxlength`` counts it as one, so a prompt the page let through must not be refused here."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n") if value else value


class GenerateForm(forms.Form):
    # The form is drawn on every gallery page by a Jinja2 template (generations/jinja.py), and
    # its dozen widgets through Django's own Jinja2 widget templates take about a millisecond
    # less a page than through its template language. The markup differs only in blank lines.
    default_renderer = Jinja2()

    # Shown above the prompt to someone in no team, and the error if they send it anyway.
    NO_TEAM = "You are not in a team yet, so nothing can be charged: ask a manager to add you."

    prompt = PromptField(
        required=False,
        strip=True,
        validators=[prompt_not_too_long],
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": "Describe the image you want…",
                "autofocus": True,
                "maxlength": params.PROMPT_MAX_LENGTH,
            }
        ),
    )
    width_and_height = forms.ChoiceField(
        label="Size",
        choices=size_choices(),
        initial=params.DEFAULT_SIZE,
        widget=forms.RadioSelect,
    )
    style_id = StyleChoiceField(
        label="Style",
        queryset=Style.objects.filter(is_active=True),
        required=False,
        empty_label=None,
        widget=forms.RadioSelect,
        initial=params.GENERAL_STYLE_ID,
    )
    style_strength = forms.DecimalField(
        label="Style strength",
        required=False,
        max_digits=3,
        decimal_places=2,
        initial=Decimal("1.00"),
        widget=forms.NumberInput(attrs=STRENGTH_ATTRS),
    )
    quality = forms.ChoiceField(
        choices=[(q, q) for q in params.QUALITIES], initial=params.DEFAULT_QUALITY, widget=forms.RadioSelect
    )
    batch_size = forms.TypedChoiceField(
        label="Images",
        choices=[(b, f"{b} image{'s' if b > 1 else ''}") for b in params.BATCH_SIZES],
        coerce=int,
        initial=params.DEFAULT_BATCH_SIZE,
        widget=forms.RadioSelect,
    )
    seed = forms.IntegerField(
        required=False,
        widget=forms.NumberInput(
            attrs={"min": params.SEED_MIN, "max": params.SEED_MAX, "placeholder": "random"}
        ),
        help_text=f"{params.SEED_MIN}–{params.SEED_MAX:,}; empty for a random seed.",
    )
    keep_seed = forms.BooleanField(label="Keep this seed for the next image", required=False)
    enhance_prompt = forms.BooleanField(
        label="Enhance prompt", required=False, help_text="Let Soul rewrite the prompt for a better result."
    )
    custom_reference_id = forms.ChoiceField(label="Character", required=False)
    custom_reference_strength = forms.DecimalField(
        label="Character strength",
        required=False,
        max_digits=3,
        decimal_places=2,
        initial=Decimal("1.00"),
        widget=forms.NumberInput(attrs=STRENGTH_ATTRS),
    )
    image_reference_type = forms.ChoiceField(
        label="Image reference",
        required=False,
        choices=[("", "None"), ("image_url", "An image (URL or upload)")],
    )
    image_reference_image_url = forms.CharField(
        label="Image URL",
        required=False,
        strip=True,
        widget=forms.URLInput(attrs={"placeholder": "https://…", "maxlength": params.URL_MAX_LENGTH}),
    )
    image_reference_upload = forms.FileField(
        label="…or upload an image",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    # An upload of an earlier job set, reused by "use these settings".
    reference_upload_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    # Exploring (issue 24): each of these, when set, tries the request several ways at once, one
    # job set per combination (generations.models.exploring). Unset, the form sends one request.
    explore_styles = StylesChoiceField(
        label="Styles",
        queryset=Style.objects.filter(is_active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"data-explore": True}),
        help_text="Each one ticked is tried; none ticked: the style picked above.",
    )
    explore_sizes = forms.MultipleChoiceField(
        label="Sizes",
        choices=size_choices(),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"data-explore": True}),
        help_text="None ticked: the size picked above.",
    )
    explore_qualities = forms.MultipleChoiceField(
        label="Qualities",
        choices=[(q, q) for q in params.QUALITIES],
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"data-explore": True}),
    )
    seeds = forms.CharField(
        label="Seeds",
        required=False,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "placeholder": "11, 12 or 11-14",
                "maxlength": exploring.SEEDS_MAX_LENGTH,
                "data-explore": True,
            }
        ),
        help_text="A list or a range; each seed is tried.",
    )
    repeat = forms.IntegerField(
        label="Repeat",
        required=False,
        min_value=1,
        initial=1,
        widget=forms.NumberInput(attrs={"min": 1, "data-explore": True, "class": "narrow"}),
        help_text="Send each combination this many times, each with a new random seed.",
    )

    ADVANCED = ("seed", "enhance_prompt", "custom_reference_id", "image_reference_type")

    def __init__(self, *args, team=None, styles: Iterable[Style] | None = None, **kwargs):
        """``styles``: every style, when the page has read them anyway (the form offers the active ones)."""
        super().__init__(*args, **kwargs)
        self.team = team
        if styles is not None:
            self.fields["style_id"].offered = [style for style in styles if style.is_active]
        self.reused_upload = None
        # What this form will send once valid: the combinations (one unless exploring).
        self.plan: exploring.Plan | None = None
        # The exploring pickers offer what the single ones do, from the same read of the styles.
        self.fields["explore_styles"].offered = self.fields["style_id"].offered
        self.fields["repeat"].max_value = settings.SOUL_EXPLORE_LIMIT
        self.fields["repeat"].widget.attrs["max"] = settings.SOUL_EXPLORE_LIMIT
        self.characters = {str(character.upstream_id): character for character in characters.of_team(team)}
        self.fields["custom_reference_id"].choices = [("", "None")] + [
            (upstream_id, character.name) for upstream_id, character in self.characters.items()
        ]
        for field in self.fields.values():
            if isinstance(field, forms.ChoiceField):
                field.error_messages["invalid_choice"] = CHOOSE
                field.error_messages["invalid_pk_value"] = CHOOSE
            if isinstance(field, forms.DecimalField):  # the two strengths
                field.error_messages.update(dict.fromkeys(STRENGTH_ERRORS, STRENGTH_WORDS))
        if not references.uploads_possible():
            self.fields["image_reference_upload"].help_text = UPLOADS_OFF
        else:
            self.fields["image_reference_upload"].help_text = pictures.help_text()

    def advanced_set(self) -> list[str]:
        """What is set under "More options", in words, so folding it never hides a choice."""
        values = {name: self[name].value() for name in self.ADVANCED}
        said = []
        if values["seed"] not in (None, ""):
            said.append(f"seed {values['seed']}")
        if values["enhance_prompt"] in (True, "on", "true", "True"):
            said.append("enhance prompt")
        if values["custom_reference_id"]:
            character = self.characters.get(str(values["custom_reference_id"]))
            said.append(f"character {character.name if character else values['custom_reference_id']}")
        if values["image_reference_type"]:
            said.append("image reference")
        return said

    def soul_request(self) -> SoulRequest:
        """The request this form describes (of a form that did not validate: the fields that parsed).

        An upload is not stored yet: the view stores it and adds it (``SoulRequest.with_upload``).
        """
        data = self.cleaned_data
        character_id = data.get("custom_reference_id") or None
        character = self.characters.get(character_id) if character_id else None
        return SoulRequest(
            prompt=data.get("prompt"),
            width_and_height=data.get("width_and_height"),
            quality=data.get("quality"),
            batch_size=data.get("batch_size"),
            seed=data.get("seed"),
            enhance_prompt=data.get("enhance_prompt", False),
            style_id=str(data["style_id"].pk) if data.get("style_id") else None,
            style_strength=data.get("style_strength"),
            custom_reference_id=character_id,
            character_id=character.pk if character else None,
            custom_reference_strength=data.get("custom_reference_strength") if character_id else None,
            image_reference_type=data.get("image_reference_type") or None,
            image_reference_image_url=""
            if self._refers_to_upload()
            else (data.get("image_reference_image_url") or ""),
            reference_upload_id=self.reused_upload.pk if self.reused_upload else None,
        )

    def _refers_to_upload(self) -> bool:
        return bool(self.cleaned_data.get("image_reference_upload") or self.reused_upload)

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("image_reference_upload")
        if (
            cleaned.get("reference_upload_key")
            and not upload
            and not cleaned.get("image_reference_image_url")
        ):
            self.reused_upload = uploads.reusable(self.team, cleaned["reference_upload_key"])
            if self.reused_upload is None:
                self.add_error("image_reference_upload", "That uploaded image is no longer available.")
        if upload:
            if cleaned.get("image_reference_image_url"):
                self.add_error("image_reference_upload", "Give an image URL or an upload, not both.")
            else:
                try:
                    self.upload_content_type = references.check_upload(upload)
                except forms.ValidationError as exc:
                    self.add_error("image_reference_upload", exc)
        # An upload is checked with a link of the shape it will be sent with (made once it is stored).
        link = references.placeholder_link() if self._refers_to_upload() else None
        for name, message in self.soul_request().errors(reference_link=link).items():
            field = name if name in self.fields else None
            if name == "image_reference_image_url" and self._refers_to_upload():
                field = "image_reference_upload"  # the link is made from the upload
            if field and field in self.errors:
                continue  # the field's own parsing (or the upload's check) already said what is wrong
            self.add_error(field, self.in_words(name, message))
        if not self.errors:
            self._explore(cleaned)
        return cleaned

    EXPLORE_FIELDS = ("explore_styles", "explore_sizes", "explore_qualities", "seeds", "repeat")

    def explores(self) -> bool:
        """Whether any exploring option is set (the "Explore" disclosure then starts open)."""
        values = [self[name].value() for name in self.EXPLORE_FIELDS]
        return any(values[:4]) or values[4] not in (None, "", 1, "1")

    def choices(self, cleaned: dict) -> exploring.Choices:
        """What varies, from the cleaned exploring fields (each falls back to the single pick)."""
        styles = cleaned.get("explore_styles") or [cleaned.get("style_id")]
        return exploring.Choices(
            styles=[(str(style.pk), style.name) if style else (None, "General") for style in styles],
            sizes=cleaned.get("explore_sizes") or [cleaned.get("width_and_height")],
            qualities=cleaned.get("explore_qualities") or [cleaned.get("quality")],
            seeds=exploring.seed_spans(cleaned.get("seeds") or ""),
            repeat=cleaned.get("repeat") or 1,
        )

    def _explore(self, cleaned: dict) -> None:
        """Expand the request into its combinations (self.plan), or say beside a field why not."""
        try:
            if cleaned.get("seeds") and cleaned.get("seed") is not None:
                raise exploring.Refused(
                    "seeds", "Give one seed (under More options) or a list here, not both."
                )
            self.plan = exploring.plan(
                self.soul_request(), self.choices(cleaned), settings.SOUL_EXPLORE_LIMIT
            )
        except exploring.Refused as refused:
            self.add_error(refused.field, refused.message)
            return
        if self.plan.count > 1 and cleaned.get("image_reference_upload"):
            self.add_error(
                "image_reference_upload",
                "An exploration cannot take a new upload: paste an image URL, or send the upload once first "
                "and explore from its “use these settings”.",
            )
            return
        link = references.placeholder_link() if self._refers_to_upload() else None
        for combination in self.plan.combinations:
            for name, message in combination.request.errors(reference_link=link).items():
                words = self.in_words(name, message)
                if name == "prompt":
                    words = f"With “{combination.label}”: {words}"
                self.add_error(name if name in self.fields else None, words)
                return

    def label_of(self, name: str) -> str:
        field = self.fields.get(name)
        return str(field.label) if field and field.label else name.replace("_", " ").capitalize()

    def in_words(self, name: str, message: str) -> str:
        """A message of the wire contract (soulwire.params), said in the form's words.

        The contract speaks of its parameters (``width_and_height``, ``image_reference_type``)
        and their values; people see labels. Its own messages stay as they are for the API.
        """
        if name == "image_reference_image_url" and self._refers_to_upload():
            return UPLOAD_LINK
        text = CONTRACT_WORDS.get((name, message)) or CONTRACT_WORDS.get((name, None))
        if text is None:
            text = f"{self.label_of(name)} {message}."
        for api_name in sorted(self.fields, key=len, reverse=True):
            if "_" in api_name and api_name in text:
                text = text.replace(api_name, f"“{self.label_of(api_name)}”")
        return text

    def next_initial(self, upload_key=None) -> dict:
        """After a submit the form keeps the prompt and its options (people iterate on one idea; the
        form has a clear button), and keeps the seed only if asked. ``upload_key``: the reference
        image just uploaded with it, kept by its key (a file field cannot be filled again)."""
        data = {k: v for k, v in self.cleaned_data.items() if k != "image_reference_upload"}
        if upload_key:
            data["reference_upload_key"] = upload_key
        if not data.get("keep_seed"):
            data.pop("seed", None)
        if data.get("style_id"):
            data["style_id"] = data["style_id"].pk
        return data


def initial_from(job_set: JobSet, keep_seed: bool) -> dict:
    """Every parameter of a job set, as the form's starting values ("use these settings")."""
    request = job_set.soul_request()
    initial = {
        "prompt": request.prompt,
        "width_and_height": request.width_and_height,
        "quality": request.quality,
        "batch_size": request.batch_size,
        "enhance_prompt": request.enhance_prompt,
        "style_id": request.style_id or params.GENERAL_STYLE_ID,
        "style_strength": request.style_strength if request.style_strength is not None else Decimal("1.00"),
        "custom_reference_id": request.custom_reference_id or "",
        "custom_reference_strength": request.custom_reference_strength or Decimal("1.00"),
        "image_reference_type": request.image_reference_type or "",
        "image_reference_image_url": request.image_reference_image_url,
        "reference_upload_key": job_set.reference_upload.key if request.reference_upload_id else None,
    }
    if keep_seed:
        seed = job_set.seed or job_set.input_params.get("seed")
        initial.update(seed=seed, keep_seed=True)
    return initial
