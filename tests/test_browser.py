"""One real game in headless Chromium (Debian's /usr/bin/chromium driven by Playwright)."""

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

import app
from conftest import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=(
    "no Chromium at /usr/bin/chromium: `make test` installs Debian's chromium when run as root "
    "(apt-get install chromium chromium-driver)"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page(tmp_path):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        yield context.new_page()
        browser.close()


def test_play_a_round_in_the_browser(tiny_export, page, tmp_path):
    demo = app.build_demo([f"dcgan-faces={tiny_export}", f"vae-faces={tmp_path / 'absent'}",
                           f"ddpm-faces={tmp_path / 'absent'}"])
    with serving(demo) as url:
        page.goto(url, wait_until="load")
        page.wait_for_selector("#quiz-pair img", timeout=30_000)
        page.wait_for_function("document.querySelectorAll('#quiz-pair img').length >= 2", timeout=30_000)
        assert "The fake was on" not in page.content()
        # 32 px files, enlarged by the browser to one 256 px box each, nearest neighbour
        shown = page.evaluate("[...document.querySelectorAll('#quiz-pair img')].map(image => ["
                              "image.naturalWidth, image.getBoundingClientRect().width, "
                              "image.getBoundingClientRect().height, getComputedStyle(image).imageRendering])")
        assert shown == [[32, 256, 256, "pixelated"]] * 2
        page.get_by_role("button", name="The left one is fake").click()
        page.wait_for_selector("text=The fake was on the", timeout=30_000)
        assert page.get_by_text("You:").count() >= 1
        assert page.get_by_role("button", name="The left one is fake").is_disabled()
        page.screenshot(path=str(tmp_path / "quiz.png"), full_page=True)
        page.get_by_role("button", name="New round").click()
        page.wait_for_function("!document.body.innerText.includes('The fake was on the')", timeout=30_000)
        assert page.get_by_role("button", name="The right one is fake").is_enabled()


def test_choose_a_model_and_a_difficulty_in_the_browser(tiny_export, tiny_vae_export, tiny_ddpm_export, page):
    """Each model offers only its difficulties (the VAE no "hard", the DDPM only "normal"); a round played with the
    choice reveals that model and difficulty with the answer."""
    demo = app.build_demo([f"dcgan-faces={tiny_export}", f"vae-faces={tiny_vae_export}",
                           f"ddpm-faces={tiny_ddpm_export}"])

    def offered() -> list[str]:
        return [label.strip() for label in page.locator("#quiz-difficulty label").all_inner_texts()]

    def wait_for_offer(expected: list[str]) -> None:
        labels = "[...document.querySelectorAll('#quiz-difficulty label')].map(label => label.innerText.trim())"
        page.wait_for_function(f"JSON.stringify({labels}) === '{json.dumps(expected, separators=(',', ':'))}'",
                               timeout=30_000)

    with serving(demo) as url:
        page.goto(url, wait_until="load")
        page.wait_for_function("document.querySelectorAll('#quiz-pair img').length >= 2", timeout=30_000)
        assert offered() == ["normal", "truncated", "hard"]  # "Surprise me": any model's difficulties
        page.locator("#quiz-model label", has_text="ddpm-faces").click()
        wait_for_offer(["normal"])
        page.locator("#quiz-model label", has_text="vae-faces").click()
        wait_for_offer(["normal", "truncated"])
        page.locator("#quiz-difficulty label", has_text="truncated").click()
        shown = "[...document.querySelectorAll('#quiz-pair img')].map(image => image.src).join()"
        before = page.evaluate(shown)
        page.get_by_role("button", name="New round").click()
        page.wait_for_function(f"{shown} !== {json.dumps(before)}", timeout=30_000)  # the new pair is on screen
        page.get_by_role("button", name="The right one is fake").click()
        page.wait_for_selector("text=The fake was on the", timeout=30_000)
        verdict = page.locator("text=It was made by").inner_text()
        assert "vae-faces (VAE, 32×32 px) at difficulty truncated" in verdict
        page.locator("#quiz-model label", has_text="dcgan-faces").click()
        wait_for_offer(["normal", "truncated", "hard"])
