"""The sandbox gateway over a real socket: auth, validation, lifecycle, images, idempotency, stats.

No database: the sandbox is a separate program that only shares :mod:`soulwire` (the contract).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image, ImageChops

from soulsandbox import SandboxConfig, SandboxServer, render
from soulsandbox.app import make_app
from soulsandbox.config import parse_seconds_range
from soulsandbox.jobsets import outcomes_for
from soulwire import contract, params
from soulwire.contract import KEY_HEADER, POLL_PATH, STYLES_PATH, SUBMIT_PATH

KEY = "sandbox-test-key-4f1c"
SIZE = "1696x960"
SAMPLE_URL = "https://example.com/reference.jpg"
URL_2083 = "https://e.com/" + "a" * (2083 - len("https://e.com/"))
URL_2084 = URL_2083 + "a"
KNOWN_STYLE_IDS = {
    params.GENERAL_STYLE_ID,
    "1cb4b936-77bf-4f9a-9039-f3d349a4cdbe",
    "a5f63c3b-70eb-4979-af5e-98c7ee1e18e8",
    "b3c8075a-cb4c-42de-b8b3-7099dd2df672",
    "1fc861ed-5923-41a6-9963-b9f04681dddd",
    "40ff999c-f576-443c-b5b3-c7d1391a666e",
    "ca4e6ad3-3e93-4e03-81a0-d1722d2c128b",
    "6fb3e1f5-d721-4523-ac38-9902f2b2b850",
    "d2e8ba04-9935-4dee-8bc4-39ac789746fc",
    "1b798b54-03da-446a-93bf-12fcba1050d7",
    "ff1ad8a2-94e7-4e70-a12f-e992ca9a0d36",
    "7696fd45-6e67-47d7-b800-096ce21cd449",
}


@pytest.fixture(scope="module")
def sandbox():
    server = SandboxServer(SandboxConfig(api_key=KEY, queue_seconds=0.2, complete_seconds=0.6)).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean_state(sandbox):
    assert requests.post(sandbox.url + "/_sandbox/reset", timeout=5).status_code == 200


def body(**overrides) -> dict:
    return {"prompt": "a lighthouse at dusk", "width_and_height": SIZE, **overrides}


def submit(sandbox, payload, key: str | None = KEY, **headers) -> requests.Response:
    if key is not None:
        headers[KEY_HEADER] = key
    return requests.post(sandbox.url + SUBMIT_PATH, json=payload, headers=headers, timeout=5)


def poll(sandbox, job_set_id: str) -> requests.Response:
    return requests.post(
        sandbox.url + POLL_PATH,
        json={"job_set_id": job_set_id},
        headers={KEY_HEADER: KEY},
        timeout=5,
    )


def stats(sandbox) -> dict:
    return requests.get(sandbox.url + "/_sandbox/stats", timeout=5).json()


def wait_for(sandbox, job_set_id: str, done: Callable[[list[str]], bool], deadline: float = 5.0) -> dict:
    """Poll until ``done(statuses)``; fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        data = poll(sandbox, job_set_id).json()
        statuses = [job["status"] for job in data["jobs"]]
        if done(statuses):
            return data
        assert time.monotonic() < end, f"still {statuses} after {deadline}s"
        time.sleep(0.02)


def all_terminal(statuses: list[str]) -> bool:
    return all(status in contract.TERMINAL_STATUSES for status in statuses)


def image(response: requests.Response) -> Image.Image:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    decoded = Image.open(io.BytesIO(response.content))
    decoded.load()
    assert decoded.format == "PNG"
    return decoded


# Authentication and routing


def test_submit_without_key_or_with_wrong_key_is_401(sandbox):
    for key in (None, "", "not-the-key"):
        response = submit(sandbox, body(), key=key)
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {"error": "Invalid or missing authentication"}
        assert KEY not in response.text
    counted = stats(sandbox)
    assert counted["submits_rejected"] == 3
    assert counted["submits_accepted"] == 0
    assert counted["job_sets"] == 0


def test_poll_and_styles_need_the_key(sandbox):
    assert requests.post(sandbox.url + POLL_PATH, json={"job_set_id": "x"}, timeout=5).status_code == 401
    wrong = {KEY_HEADER: "nope"}
    assert requests.get(sandbox.url + STYLES_PATH, headers=wrong, timeout=5).status_code == 401


def test_unknown_path_is_404_and_wrong_method_is_405(sandbox):
    missing = requests.get(sandbox.url + "/ai-model-api/v1/generateSomethingElse", timeout=5)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/json"
    assert missing.json() == {"error": "Endpoint not found"}
    for method, path in (("GET", SUBMIT_PATH), ("GET", POLL_PATH), ("POST", STYLES_PATH)):
        response = requests.request(method, sandbox.url + path, headers={KEY_HEADER: KEY}, timeout=5)
        assert response.status_code == 405
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]


def test_url_length_constants():
    assert (len(URL_2083), len(URL_2084)) == (2083, 2084)


def test_key_stays_out_of_the_config_repr():
    assert KEY not in repr(SandboxConfig(api_key=KEY))


# Validation


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"width_and_height": "1000x1000"}, "width_and_height"),
        ({"quality": "4k"}, "quality"),
        ({"seed": 0}, "seed"),
        ({"seed": 1_000_001}, "seed"),
        ({"seed": True}, "seed"),
        ({"batch_size": 2}, "batch_size"),
        ({"style_strength": 1.01}, "style_strength"),
        ({"style_strength": 0.555}, "style_strength"),
        ({"style_id": "464ea177-8d40-4940-8d9d-b438bab269c"}, "style_id"),
        ({"image_reference_type": "image_url"}, "image_reference_image_url"),
        ({"image_reference_image_url": SAMPLE_URL}, "image_reference_type"),
        (
            {"image_reference_type": "image_url", "image_reference_image_url": URL_2084},
            "image_reference_image_url",
        ),
        ({"webhook_url": "https://example.com/hook"}, "webhook_secret"),
    ],
)
def test_invalid_parameters_are_400_and_create_nothing(sandbox, overrides, field):
    response = submit(sandbox, body(**overrides))
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    message = response.json()["error"]
    assert message.startswith("Invalid request parameters: ")
    assert field in message
    counted = stats(sandbox)
    assert (counted["submits_rejected"], counted["submits_accepted"], counted["job_sets"]) == (1, 0, 0)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b""])
def test_a_body_that_is_not_a_json_object_is_400(sandbox, raw):
    response = requests.post(
        sandbox.url + SUBMIT_PATH,
        data=raw,
        headers={KEY_HEADER: KEY, "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request parameters"}
    assert stats(sandbox)["job_sets"] == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"seed": 1},
        {"seed": 1_000_000},
        {"style_strength": 0.0},
        {"style_strength": 1.0},
        {"style_strength": 0.01},
        {"custom_reference_strength": 0.01},
        {"image_reference_type": "image_url", "image_reference_image_url": URL_2083},
    ],
)
def test_edge_values_are_accepted_and_echoed(sandbox, overrides):
    response = submit(sandbox, body(**overrides))
    assert response.status_code == 200, response.text
    applied = response.json()["input_params"]
    for name, value in overrides.items():
        if name == "image_reference_image_url":
            assert applied["image_reference"]["url"] == value
        elif name != "image_reference_type":
            assert applied[name] == value
    assert stats(sandbox)["submits_accepted"] == 1


# Submit response


def test_submit_response_has_the_documented_shape_and_defaults(sandbox):
    # soul_style_id is the vendor sample's misspelling: ignored, like upstream.
    response = submit(sandbox, body(soul_style_id="a5f63c3b-70eb-4979-af5e-98c7ee1e18e8"))
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"type", "created_at", "jobs", "input_params", "job_set_id"}
    assert data["type"] == "text2image_soul"
    assert data["created_at"].endswith("Z") and "T" in data["created_at"]
    assert params.is_uuid(data["job_set_id"])
    [job] = data["jobs"]
    assert job["job_set_type"] == "text2image_soul"
    assert job["status"] == "queued"
    assert job["results"] is None
    assert params.is_uuid(job["id"])
    applied = data["input_params"]
    seed = applied.pop("seed")
    assert isinstance(seed, int) and params.SEED_MIN <= seed <= params.SEED_MAX
    assert applied == {
        "prompt": "a lighthouse at dusk",
        "width": 1696,
        "height": 960,
        "enhance_prompt": False,
        "style_id": params.GENERAL_STYLE_ID,
        "style_strength": 1,
        "custom_reference": None,
        "custom_reference_strength": 1,
        "image_reference": None,
        "quality": "720p",
        "batch_size": 1,
    }


def test_submit_echoes_references_and_given_values(sandbox):
    character = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
    style = "1cb4b936-77bf-4f9a-9039-f3d349a4cdbe"
    payload = body(
        enhance_prompt=True,
        style_id=style,
        style_strength=0.8,
        quality="1080p",
        seed=500000,
        custom_reference_id=character,
        custom_reference_strength=0.9,
        image_reference_type="image_url",
        image_reference_image_url=SAMPLE_URL,
        batch_size=4,
        webhook_url="https://example.com/hook",
        webhook_secret="s3cret",
    )
    data = submit(sandbox, payload).json()
    applied = data["input_params"]
    assert applied["enhance_prompt"] is True
    assert (applied["style_id"], applied["style_strength"]) == (style, 0.8)
    assert (applied["quality"], applied["seed"], applied["batch_size"]) == ("1080p", 500000, 4)
    assert applied["custom_reference"] == {"id": character}
    assert applied["custom_reference_strength"] == 0.9
    reference = applied["image_reference"]
    assert reference["type"] == "media_input" and reference["url"] == SAMPLE_URL
    assert params.is_uuid(reference["id"])
    assert len(data["jobs"]) == 4


def test_it_refuses_a_fractional_looking_batch_size(sandbox):
    response = submit(sandbox, body(batch_size=4.0))
    assert response.status_code == 400
    assert "batch_size" in response.json()["error"]


# Lifecycle and images


def test_batch_of_four_goes_queued_in_progress_completed_with_images(sandbox):
    submitted = submit(sandbox, body(batch_size=4, seed=77)).json()
    job_ids = [job["id"] for job in submitted["jobs"]]
    assert len(set(job_ids)) == 4

    seen: list[str] = []

    def record(statuses: list[str]) -> bool:
        assert len(set(statuses)) == 1, "the jobs of one set move together"
        if not seen or seen[-1] != statuses[0]:
            seen.append(statuses[0])
        return statuses[0] == "completed"

    data = wait_for(sandbox, submitted["job_set_id"], record)
    assert seen == ["queued", "in_progress", "completed"]
    assert data["id"] == submitted["job_set_id"]
    assert "job_set_id" not in data
    assert data["input_params"] == submitted["input_params"]
    assert [job["id"] for job in data["jobs"]] == job_ids

    raws = []
    for job in data["jobs"]:
        results = job["results"]
        assert results["raw"]["type"] == results["min"]["type"] == "image"
        assert results["raw"]["url"].startswith(sandbox.url + "/results/")
        # Like a CDN: no key needed to download.
        raw = requests.get(results["raw"]["url"], timeout=10)
        assert image(raw).size == (1696, 960)
        preview = image(requests.get(results["min"]["url"], timeout=10))
        assert max(preview.size) == 384
        assert abs(preview.size[0] / preview.size[1] - 1696 / 960) < 0.01
        raws.append(raw.content)
    assert len(set(raws)) == 4, "each image of a batch differs"


def test_images_are_deterministic_from_prompt_and_seed(sandbox):
    # No seed: the sandbox picks one, and that seed alone must reproduce the images.
    first = submit(sandbox, body(prompt="red fox in snow")).json()
    seed = first["input_params"]["seed"]
    same = submit(sandbox, body(prompt="red fox in snow", seed=seed)).json()
    other = submit(sandbox, body(prompt="blue whale at night", seed=seed)).json()

    def raw_bytes(job_set_id: str) -> bytes:
        data = wait_for(sandbox, job_set_id, all_terminal)
        return requests.get(data["jobs"][0]["results"]["raw"]["url"], timeout=10).content

    first_raw = raw_bytes(first["job_set_id"])
    assert raw_bytes(same["job_set_id"]) == first_raw
    assert raw_bytes(other["job_set_id"]) != first_raw


def test_raw_image_has_exactly_the_requested_size(sandbox):
    sizes = ("2048x1536", "1152x2048", "1536x1536")
    submitted = {size: submit(sandbox, body(width_and_height=size, seed=5)).json() for size in sizes}
    for size in sizes:
        data = wait_for(sandbox, submitted[size]["job_set_id"], all_terminal)
        raw = image(requests.get(data["jobs"][0]["results"]["raw"]["url"], timeout=10))
        assert raw.size == params.parse_size(size)


def test_prompt_words_choose_the_outcome(sandbox):
    cases = {
        "portrait NSFW test": (1, ["nsfw"]),
        "this should fail": (4, ["failed"] * 4),
        "partial batch": (4, ["completed", "failed", "completed", "failed"]),
        "partial batch of one": (1, ["completed"]),
        "failure and nsfwish words": (1, ["completed"]),
    }
    submitted = {
        prompt: submit(sandbox, body(prompt=prompt, batch_size=batch)).json()
        for prompt, (batch, _) in cases.items()
    }
    for prompt, (_, expected) in cases.items():
        data = wait_for(sandbox, submitted[prompt]["job_set_id"], all_terminal)
        assert [job["status"] for job in data["jobs"]] == expected, prompt
        for job in data["jobs"]:
            if job["status"] == "completed":
                assert job["results"]["raw"]["url"]
            else:
                assert job["results"] is None
                assert (
                    requests.get(f"{sandbox.url}/results/{job['id']}/raw.png", timeout=5).status_code == 404
                )


def test_outcomes_for_matches_whole_words_only():
    assert outcomes_for("Nsfw", 1) == ["nsfw"]
    assert outcomes_for("fail-safe", 1) == ["failed"]
    assert outcomes_for("failed", 1) == ["completed"]
    assert outcomes_for("impartial", 4) == ["completed"] * 4


def test_images_are_404_until_completed_and_for_unknown_jobs(sandbox):
    job_id = submit(sandbox, body()).json()["jobs"][0]["id"]
    pending = requests.get(f"{sandbox.url}/results/{job_id}/raw.png", timeout=5)
    assert pending.status_code == 404
    assert pending.headers["Content-Type"] == "application/json"
    unknown = "00000000-0000-4000-8000-000000000000"
    assert requests.get(f"{sandbox.url}/results/{unknown}/min.png", timeout=5).status_code == 404


def test_poll_of_unknown_or_malformed_job_set(sandbox):
    unknown = poll(sandbox, "00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Job set not found"}
    for payload in ({}, {"job_set_id": "abc"}, {"job_set_id": 12}):
        response = requests.post(sandbox.url + POLL_PATH, json=payload, headers={KEY_HEADER: KEY}, timeout=5)
        assert response.status_code == 400
        assert response.json()["error"].startswith("Invalid request parameters")


# The renderer on its own (the HTTP tests above may be served from its cache)


def _decode(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def test_render_is_byte_identical_without_the_cache():
    first = render.render_png("a lighthouse at dusk", 42, 0, 384, 288)
    render.render_png.cache_clear()
    assert render.render_png("a lighthouse at dusk", 42, 0, 384, 288) == first


def test_render_scene_depends_on_prompt_seed_and_index():
    def top_strip(prompt: str, seed: int, index: int) -> bytes:
        # The top strip holds no text, so it shows the scene alone.
        return _decode(render.render_png(prompt, seed, index, 384, 288)).crop((0, 0, 384, 30)).tobytes()

    base = top_strip("a lighthouse at dusk", 42, 0)
    assert top_strip("a lighthouse at noon", 42, 0) != base
    assert top_strip("a lighthouse at dusk", 43, 0) != base
    assert top_strip("a lighthouse at dusk", 42, 1) != base


def test_render_draws_the_prompt_wrapped():
    def text_height(prompt: str) -> int:
        decoded = _decode(render.render_png(prompt, 7, 0, 768, 768))
        # The text outline is exactly (20, 20, 20), a colour the scene never reaches;
        # the bottom rows hold the seed caption, so leave them out.
        outline = ImageChops.difference(decoded, Image.new("RGB", decoded.size, (20, 20, 20))).convert("L")
        box = outline.point(lambda value: 255 if value == 0 else 0).crop((0, 0, 768, 700)).getbbox()
        return 0 if box is None else box[3] - box[1]

    one_line = text_height("fox")
    assert one_line > 20
    assert text_height("a quick brown fox jumps over the lazy dog " * 4) > 3 * one_line


def test_preview_size_keeps_the_aspect_ratio():
    assert render.preview_size(2048, 1536) == (384, 288)
    assert render.preview_size(960, 1696) == (217, 384)


# Idempotency


def test_idempotency_key_replays_the_same_job_set(sandbox):
    first = submit(sandbox, body(), **{"Idempotency-Key": "retry-1"})
    again = submit(sandbox, body(), **{"Idempotency-Key": "retry-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    fresh = submit(sandbox, body(), **{"Idempotency-Key": "retry-2"})
    assert fresh.json()["job_set_id"] != first.json()["job_set_id"]
    counted = stats(sandbox)
    assert counted["submits_accepted"] == 2
    assert counted["submits_replayed"] == 1
    assert counted["by_idempotency_key"] == {"retry-1": 1, "retry-2": 1}
    assert counted["job_sets"] == 2


# Styles


def test_styles_list_and_previews(sandbox):
    response = requests.get(sandbox.url + STYLES_PATH, headers={KEY_HEADER: KEY}, timeout=5)
    assert response.status_code == 200
    styles = response.json()
    assert {style["id"] for style in styles} == KNOWN_STYLE_IDS
    for style in styles:
        assert set(style) == {"id", "name", "description", "preview_url"}
        assert style["name"] and style["description"]
    general = next(style for style in styles if style["id"] == params.GENERAL_STYLE_ID)
    assert general["name"] == "General"
    preview = requests.get(general["preview_url"], timeout=5)
    assert image(preview).size == (256, 256)
    assert requests.get(general["preview_url"], timeout=5).content == preview.content
    other = next(style for style in styles if style["id"] != params.GENERAL_STYLE_ID)
    assert requests.get(other["preview_url"], timeout=5).content != preview.content
    unknown = f"{sandbox.url}/_sandbox/styles/00000000-0000-4000-8000-000000000000.png"
    assert requests.get(unknown, timeout=5).status_code == 404
    assert stats(sandbox)["styles_requests"] == 1


# Configuration


def test_complete_seconds_parsing():
    assert parse_seconds_range("2-10") == (2.0, 10.0)
    assert parse_seconds_range("0.5-1.5") == (0.5, 1.5)
    assert parse_seconds_range("3") == (3.0, 3.0)
    assert parse_seconds_range(2.5) == (2.5, 2.5)
    for bad in ("10-2", "abc", "", "-1", "1-", True, "inf"):
        with pytest.raises(ValueError):
            parse_seconds_range(bad)
    with pytest.raises(ValueError):
        SandboxConfig(complete_seconds="soon")


def test_a_range_gives_each_job_set_a_random_duration_inside_it():
    _, state = make_app(SandboxConfig(complete_seconds="2-10"))
    job_set_ids = [state.submit(body())["job_set_id"] for _ in range(20)]
    durations = [state.job_sets[i].terminal_at - state.job_sets[i].submitted_at for i in job_set_ids]
    assert all(2.0 <= duration <= 10.0 for duration in durations)
    assert len({round(duration, 6) for duration in durations}) > 1


def test_public_url_is_the_base_of_result_urls():
    config = SandboxConfig(queue_seconds=0, complete_seconds=0, public_url="https://cdn.example.test/")
    server = SandboxServer(config).start()
    try:
        job_set_id = submit(server, body(), key="any-key-works").json()["job_set_id"]
        data = requests.post(
            server.url + POLL_PATH,
            json={"job_set_id": job_set_id},
            headers={KEY_HEADER: "another"},
            timeout=5,
        ).json()
        assert data["jobs"][0]["results"]["raw"]["url"].startswith("https://cdn.example.test/results/")
    finally:
        server.stop()


# Stats and reset


def test_stats_count_requests_and_terminal_instants_then_reset_clears_them(sandbox):
    before = time.time()
    submitted = submit(sandbox, body()).json()
    after = time.time()
    job_id = submitted["jobs"][0]["id"]
    assert job_id not in stats(sandbox)["completed_at"]

    wait_for(sandbox, submitted["job_set_id"], all_terminal)
    counted = stats(sandbox)
    assert before + 0.6 <= counted["completed_at"][job_id] <= after + 0.6
    assert counted["completed_at"][job_id] <= time.time()
    assert counted["submits_accepted"] == 1
    assert counted["polls"] >= 1
    assert counted["job_sets"] == 1
    assert counted["requests_total"] >= counted["polls"] + 3

    assert requests.post(sandbox.url + "/_sandbox/reset", timeout=5).json() == {"reset": True}
    cleared = stats(sandbox)
    assert cleared["job_sets"] == 0
    assert cleared["completed_at"] == {}
    assert cleared["submits_accepted"] == cleared["polls"] == 0
    assert poll(sandbox, submitted["job_set_id"]).status_code == 404


def test_stats_show_the_most_polls_of_one_job_set_answered_at_once(sandbox):
    first = submit(sandbox, body()).json()["job_set_id"]
    second = submit(sandbox, body()).json()["job_set_id"]
    poll(sandbox, first)
    poll(sandbox, second)
    assert stats(sandbox)["max_concurrent_polls_per_job_set"] == 1  # one after the other

    sandbox.configure(slow_rate=1.0, slow_seconds=0.5)
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda job_set_id: poll(sandbox, job_set_id), [first, first, second]))
    finally:
        sandbox.configure(slow_rate=0.0, slow_seconds=5.0)
    assert stats(sandbox)["max_concurrent_polls_per_job_set"] == 2

    requests.post(sandbox.url + "/_sandbox/reset", timeout=5)
    assert stats(sandbox)["max_concurrent_polls_per_job_set"] == 0
