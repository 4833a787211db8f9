"""Pages 1 to 10 in a real browser, as an admin, a member of staff and a DSL meet them.

The tests run in file order and build on each other like the people they play: the
admin registers and imports the school, the teacher records an incident, the DSL
reads it, sets up a soft key, elevates and reads the pupil's chronology, and the
admin resets the DSL's soft key. Every page visited is checked by `pages.check`
(axe, 360 px, CSP, screenshots).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
import zlib
from dataclasses import dataclass, field

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect

from ..mailbox import mail_to, text_of, wait_for

STRONG = "lantern orchard velvet quarry 42"
WEAK = "password1234"
XSS = '<img src=x onerror="window.__xss = 1"> Zoë said she was pushed at break.'
RESET_LINK = re.compile(r"(https?://\S+/reset-password\?token=[A-Za-z0-9_\-]+)")
# Each test session has a stack of its own, and no other module uses these names.
SCHOOL = "Elmbridge Primary"
DOMAIN = "elmbridge.example"


def email(name: str) -> str:
    return f"{name}@{DOMAIN}"


STAFF_CSV = (
    "email,name,role\n"
    f"{email('dee.lead')},Dee Lead,dsl\n"
    f"{email('tim.teacher')},Tim Teacher,staff\n"
    f"{email('sam.support')},Sam Support,staff\n"
    "not-an-address,Bad Row,staff\n"
)
PUPILS_CSV = (
    "upn,first_name,last_name,year_group,date_of_birth\n"
    "E100000000001,Zoë,Marsh,4,2017-03-14\n"
    "E100000000002,Zola,Marsh,2,2019-06-01\n"
    "E100000000003,Kai,Okafor,5,2016-01-20\n"
    "E100000000004,Ines,Dubois,4,2017-09-09\n"
    "E100000000005,Noor,,3,2018-02-02\n"
)


def png_bytes() -> bytes:
    """A real 1x1 PNG, made here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass
class World:
    school_id: str = ""
    incident_url: str = ""
    totp_secret: str = ""
    recovery_codes: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(running_stack) -> World:  # type: ignore[no-untyped-def]
    result = running_stack.cli(
        "admin", "bootstrap", "--trust", "Elmbridge Trust", "--school", SCHOOL,
        "--admin-email", email("ada.admin"), "--admin-name", "Ada Admin",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return World(school_id=json.loads(result.stdout)["school_id"])


@pytest.fixture
def page(browser, pages):  # type: ignore[no-untyped-def]
    context = pages.new_context(browser)
    opened = context.new_page()
    pages.watch(opened)
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    context.close()


def reset_link(stack, address: str, before: int) -> str:  # type: ignore[no-untyped-def]
    message = wait_for(lambda: mail_to(stack, address)[before:])[-1]
    return RESET_LINK.search(text_of(message)).group(1)  # type: ignore[union-attr]


def register(page: Page, stack, address: str, pages=None) -> None:  # type: ignore[no-untyped-def]
    """Pages 2 and 3: ask for the link, follow it, choose a strong password."""
    before = len(mail_to(stack, address))
    page.goto("/login")
    page.get_by_role(
        "link", name="Forgotten your password or using Haven for the first time?"
    ).click()
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Reset password").click()
    expect(page.locator("#sent")).to_be_visible()
    if pages:
        pages.check(page, "02-forgotten-password")
    page.goto(reset_link(stack, address, before))
    expect(page).to_have_url(re.compile(r"/reset-password$"))  # the token left the address bar
    page.get_by_label("New password").fill(STRONG)
    expect(page.locator("#strength-label")).to_have_text(re.compile("strong"))
    expect(page.get_by_role("button", name="Set password")).to_be_enabled()
    if pages:
        pages.check(page, "03-set-password")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("#done")).to_be_visible()


def pick_by_keyboard(page: Page, selector: str, typed: str, name: str) -> None:
    """Type into a pupil picker, wait for the suggestion as a person would, take it with Enter."""
    page.locator(selector).press_sequentially(typed)
    option = page.get_by_role("option", name=re.compile(name))
    expect(option).to_be_visible()
    expect(option).to_have_attribute("aria-selected", "true")
    page.locator(selector).press("Enter")


def log_in(page: Page, address: str, password: str = STRONG) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.locator("#welcome")).to_contain_text(address)


# --- the admin -------------------------------------------------------------------


def test_a_weak_password_is_refused_by_the_meter_and_by_the_server(
    page, running_stack, world, pages
):  # type: ignore[no-untyped-def]
    address = email("ada.admin")
    before = len(mail_to(running_stack, address))
    page.goto("/forgotten-password")
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Reset password").click()
    expect(page.locator("#sent")).to_be_visible()
    sent_for_known = page.locator("#sent").inner_text()

    page.goto(reset_link(running_stack, address, before))
    expect(page).to_have_url(re.compile(r"/reset-password$"))
    button = page.get_by_role("button", name="Set password")
    page.get_by_label("New password").fill(WEAK)
    expect(page.locator("#strength-label")).to_have_text(re.compile(r"^(very weak|weak|medium)$"))
    expect(page.locator("#strength-suggestions li").first).to_be_visible()
    expect(button).to_be_disabled()
    page.get_by_label("New password").press("Enter")
    expect(page.locator("#done")).to_be_hidden()

    # Even with the button forced on, the server refuses it and the page says why.
    page.evaluate("document.querySelector('#set-password').disabled = false")
    button.click()
    expect(page.locator(".error-summary")).to_contain_text("not strong enough")
    expect(page.locator("#password-error")).to_be_visible()

    # The same message whatever the email.
    page.goto("/forgotten-password")
    page.get_by_label("Email address").fill(email("nobody"))
    page.get_by_role("button", name="Reset password").click()
    expect(page.locator("#sent")).to_be_visible()
    assert page.locator("#sent").inner_text() == sent_for_known


def test_admin_registers_logs_in_and_imports_staff_and_pupils(page, running_stack, world, pages):  # type: ignore[no-untyped-def]
    page.goto("/login")
    pages.check(page, "01-login")
    register(page, running_stack, email("ada.admin"), pages)

    page.goto("/login")
    page.get_by_label("Email address").fill(email("ada.admin"))
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#password-error")).to_have_text(
        "The email address or password is not right."
    )
    log_in(page, email("ada.admin"))

    page.get_by_role("link", name="Administration").click()
    expect(page.locator("#staff-rows tr").first).to_be_visible()
    page.set_input_files(
        "#import-file",
        files=[{"name": "staff.csv", "mimeType": "text/csv", "buffer": STAFF_CSV.encode()}],
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-result")).to_contain_text("3 added")
    expect(page.locator("#import-errors tbody tr")).to_have_count(1)
    expect(page.locator("#import-errors tbody tr td").first).to_have_text("5")

    page.get_by_role("radio", name="Pupils").check()
    page.set_input_files(
        "#import-file",
        files=[{"name": "pupils.csv", "mimeType": "text/csv", "buffer": PUPILS_CSV.encode()}],
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-result")).to_contain_text("4 added")
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first.locator("td").nth(1)).to_have_text("last_name")

    page.get_by_label("New category").fill("Worries about home")
    page.get_by_role("button", name="Add category").click()
    expect(page.locator("#category-list")).to_contain_text("Worries about home")
    page.get_by_label("New category").fill("Online safety")
    page.get_by_role("button", name="Add category").click()
    expect(page.locator("#name-error")).to_contain_text("already")
    page.get_by_label("New category").fill("")
    page.get_by_label("New agency").fill("Early Help Hub")
    page.get_by_role("button", name="Add agency").click()
    expect(page.locator("#agency-list")).to_contain_text("Early Help Hub")
    expect(page.locator("#staff-rows")).to_contain_text(email("dee.lead"))
    pages.check(page, "10-administration")


# --- the member of staff ----------------------------------------------------------


def test_staff_member_records_an_incident_with_body_map_and_files(
    page, running_stack, world, pages
):  # type: ignore[no-untyped-def]
    register(page, running_stack, email("tim.teacher"))
    log_in(page, email("tim.teacher"))
    pages.check(page, "04-dashboard")
    expect(page.locator("#alerts-empty")).to_be_visible()

    page.get_by_role("link", name="Add Incident").click()
    expect(page.locator("#categories input").first).to_be_visible()

    # Student: type, move with the arrow keys, pick with Enter.
    student = page.locator("#student")
    student.fill("Marsh")  # one input event: one search, so the list settles at once
    expect(page.locator("#student-options [role=option]")).to_have_count(2)
    pages.check(page, "07-add-incident-suggestions")
    student.press("ArrowDown")
    chosen = page.locator("#student-options [aria-selected=true]")
    expected = chosen.inner_text().strip()  # "Zoë Marsh, Year 4"
    student.press("Enter")
    expect(page.locator("#student-chosen")).to_contain_text(expected)
    expect(page.locator("#student-chosen")).to_contain_text("Year")
    if "Zoë" not in expected:  # make the pupil Zoë for the rest of the journey
        page.get_by_role("button", name="Choose another student").click()
        pick_by_keyboard(page, "#student", "zoe", "Zoë Marsh")
    expect(page.locator("#student-chosen")).to_contain_text("Zoë Marsh, Year 4")

    page.get_by_label("Incident (required)").fill(XSS)

    # Linked students: chips, by mouse; one removed again.
    linked = page.locator("#linked")
    linked.press_sequentially("kai")
    page.get_by_role("option", name=re.compile("Kai Okafor")).click()
    linked.press_sequentially("ines")
    page.get_by_role("option", name=re.compile("Ines Dubois")).click()
    expect(page.locator("#linked-chips li")).to_have_count(2)
    page.get_by_role("button", name=re.compile("Remove Ines Dubois")).click()
    expect(page.locator("#linked-chips li")).to_have_count(1)

    # Body map: a click on the front, then a mark on the back by keyboard alone.
    page.locator("#body-map-details summary").click()
    front = page.locator("svg[data-side=front]")
    box = front.bounding_box()
    front.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.27})
    page.get_by_label("Side").select_option("back")
    page.get_by_label("Place").select_option("left knee")
    page.locator("#add-mark").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#marks li")).to_have_count(2)
    back = page.locator("svg[data-side=back]")
    back.click(position={"x": back.bounding_box()["width"] * 0.5, "y": 30})
    expect(page.locator("#marks li")).to_have_count(3)
    expect(page.locator("#marks li").nth(2)).to_contain_text("back of head")
    page.get_by_role("button", name="Remove mark 3").click()
    expect(page.locator("#marks li")).to_have_count(2)
    page.get_by_label(re.compile(r"Mark 1 \(front, chest\)")).fill("bruise, about 3 cm")
    page.get_by_label(re.compile(r"Mark 2 \(back, back of knee|Mark 2 \(back, left knee")).fill(
        "graze"
    )
    expect(page.locator("svg[data-side=back] .mark")).to_have_count(1)

    # Alert a colleague; DSLs are named as always alerted.
    expect(page.locator("#dsl-note")).to_contain_text("Dee Lead")
    page.get_by_label("Find a colleague").fill("sam")
    page.get_by_label(re.compile("Sam Support")).check()
    page.get_by_label("Find a colleague").fill("ada")
    expect(page.locator("#staff li")).to_have_count(2)  # Ada found, Sam kept because ticked
    expect(page.get_by_label(re.compile("Sam Support"))).to_be_checked()

    # Files: one dropped, one chosen, one refused here, one refused by the server.
    drop = page.evaluate_handle(
        """([name, type, b64]) => {
            const data = new DataTransfer();
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            data.items.add(new File([bytes], name, { type }));
            return data;
        }""",
        ["photo.png", "image/png", base64.b64encode(png_bytes()).decode()],
    )
    page.dispatch_event("#drop-zone", "dragover", {"dataTransfer": drop})
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": drop})
    page.set_input_files(
        "#files-input",
        files=[
            {
                "name": "notes.txt",
                "mimeType": "text/plain",
                "buffer": "What Zoë told me.\n".encode(),
            },
            {"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x90\x00"},
            {"name": "fake.txt", "mimeType": "text/plain", "buffer": b"\x00\x01\x02\xff\xfe" * 50},
        ],
    )
    rows = page.locator("#file-list li")
    expect(rows).to_have_count(4)
    expect(page.locator("#file-list")).not_to_contain_text("null")
    expect(page.locator("#file-list li[data-file='photo.png']")).to_have_attribute(
        "data-status", "done"
    )
    expect(page.locator("#file-list li[data-file='notes.txt']")).to_have_attribute(
        "data-status", "done"
    )
    expect(page.locator("#file-list li[data-file='photo.png']")).to_contain_text("bytes")
    expect(page.locator("#file-list li[data-file='tool.exe'] .error-message")).to_contain_text(
        "does not accept"
    )
    expect(page.locator("#file-list li[data-file='fake.txt'] .error-message")).to_contain_text(
        "does not accept"
    )

    # Client check: no category yet, and refused files still listed. Nothing typed is lost.
    page.get_by_role("button", name="Add Incident", exact=True).click()
    expect(page.locator("#category_ids-error")).to_contain_text("at least one category")
    expect(page.locator("#file_ids-error")).to_be_visible()
    expect(page.get_by_label("Incident (required)")).to_have_value(XSS)
    page.get_by_role("button", name="Remove tool.exe").click()
    page.get_by_role("button", name="Remove fake.txt").click()
    page.get_by_label("Physical abuse").check()
    page.get_by_label("Online safety").check()
    page.get_by_label("Early Help Hub").check()

    # Server check: before the pupil could have been at school. Shown beside the date.
    page.get_by_label("Date and time of the incident").fill("2010-01-05T09:30")
    page.get_by_role("button", name="Add Incident", exact=True).click()
    expect(page.locator("#occurred_at-error")).to_contain_text("must not be before")
    expect(page.get_by_label("Incident (required)")).to_have_value(XSS)
    expect(page.locator("#marks li")).to_have_count(2)
    expect(page.locator("#linked-chips li")).to_have_count(1)
    pages.check(page, "07-add-incident")

    page.get_by_label("Date and time of the incident").fill(
        time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 3600))
    )
    page.get_by_role("button", name="Add Incident", exact=True).click()
    expect(page).to_have_url(re.compile(r"/incidents/[0-9a-f-]{36}$"))
    world.incident_url = page.url

    # Page 8: every field, the description as text, marks, files, an addendum.
    expect(page.locator("#description")).to_have_text(XSS)
    assert page.locator("#description img").count() == 0
    assert page.evaluate("window.__xss") is None
    expect(page.locator("#student")).to_have_text("Zoë Marsh")
    expect(page.locator("#linked")).to_have_text("Kai Okafor")
    expect(page.locator("#agencies")).to_have_text("Early Help Hub")
    expect(page.locator("#alerted")).to_contain_text("Sam Support")
    expect(page.locator("#body-map .marks li")).to_have_count(2)
    expect(page.locator("#body-map .marks li").first).to_contain_text("bruise, about 3 cm")
    expect(page.locator("#files a")).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_role("link", name="notes.txt").click()
    assert download.value.suggested_filename == "notes.txt"
    page.get_by_label("Add an addendum").fill("Spoke to Zoë again at lunch; she is calmer.")
    page.get_by_role("button", name="Add addendum").click()
    expect(page.locator("#addenda li")).to_contain_text("calmer")
    expect(page.locator("#views-section")).to_be_hidden()  # not a DSL
    pages.check(page, "08-incident")


def test_blank_screen_and_idle_lock(page, running_stack, world, pages):  # type: ignore[no-untyped-def]
    page.clock.install()
    log_in(page, email("tim.teacher"))
    page.get_by_role("button", name="Blank screen").click()
    cover = page.locator("#blank-cover")
    expect(cover).to_be_visible()
    expect(page.locator("#toolbar")).to_have_attribute("aria-hidden", "true")
    pages.check(page, "04-dashboard-blank-screen")
    page.locator("#blank-return").click()
    expect(cover).to_be_hidden()
    expect(page.locator("#welcome")).to_be_visible()

    # Ten idle minutes later the session ends and the password is needed to carry on.
    page.clock.fast_forward("10:05")
    expect(page.locator("#lock-cover")).to_be_visible()
    status = httpx.get(
        f"{running_stack.base_url}/api/v1/me",
        cookies={c["name"]: c["value"] for c in page.context.cookies()},
    )
    assert status.status_code == 401
    page.get_by_label("Password").fill("wrong password entirely")
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator("#unlock-error")).to_have_text("That password is not right.")
    pages.check(page, "04-dashboard-idle-lock")
    page.get_by_label("Password").fill(STRONG)
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator("#lock-cover")).to_be_hidden()
    page.get_by_role("link", name="Add Incident").click()
    expect(page.locator("#categories input").first).to_be_visible()

    # Pages for other roles say so, and show nothing else.
    page.goto("/admin")
    expect(page.locator("#not-for-you")).to_contain_text("administrators")
    expect(page.locator("#import-form")).to_have_count(0)
    page.goto("/chronology")
    expect(page.locator("#not-for-you")).to_contain_text("designated safeguarding leads")

    # The session ended elsewhere: the page asks for the password, keeps what was typed.
    page.goto(world.incident_url)
    page.get_by_label("Add an addendum").fill("Mum rang the office this afternoon.")
    csrf = page.evaluate("() => sessionStorage.getItem('haven.csrf')")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    ended = httpx.post(
        f"{running_stack.base_url}/api/v1/auth/logout",
        cookies=cookies,
        headers={"X-CSRF-Token": csrf},
    )
    assert ended.status_code == 204
    page.get_by_role("button", name="Add addendum").click()
    expect(page.locator("#lock-cover")).to_contain_text("Your session has ended")
    page.get_by_label("Password").fill(STRONG)
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator("#lock-cover")).to_be_hidden()
    expect(page.get_by_label("Add an addendum")).to_have_value(
        "Mum rang the office this afternoon."
    )
    page.get_by_role("button", name="Add addendum").click()
    expect(page.locator("#addenda li")).to_have_count(2)


# --- the DSL -----------------------------------------------------------------------


def test_dsl_reads_the_alert_sets_up_a_soft_key_elevates_and_reads_the_chronology(
    page, running_stack, world, pages
):  # type: ignore[no-untyped-def]
    register(page, running_stack, email("dee.lead"))
    log_in(page, email("dee.lead"))
    alert = page.locator("#alerts li").first
    expect(alert).to_have_class(re.compile("unread"))
    expect(alert).to_contain_text("Zoë Marsh")
    expect(page.locator("#unread-count")).to_have_text("1 unread")
    pages.check(page, "04-dashboard-with-alert")
    alert.get_by_role("button", name=re.compile("Mark as read")).click()
    expect(page.locator("#alerts li").first).to_have_class(re.compile(r"\bread\b"))
    expect(page.locator("#unread-count")).to_have_text("")

    page.goto(world.incident_url)
    expect(page.locator("#views-section")).to_be_visible()
    expect(page.locator("#views tr").first).to_be_visible()
    expect(page.locator("#addendum-form")).to_be_visible()
    expect(page.locator("#addenda li").first).to_contain_text("calmer")
    pages.check(page, "08-incident-as-dsl")

    # Chronology without elevation: told to elevate.
    page.get_by_role("link", name="Chronology", exact=True).click()
    pick_by_keyboard(page, "#student", "zoe", "Zoë Marsh")
    expect(page.locator("#need-elevation")).to_be_visible()
    expect(page.locator("#results")).to_be_hidden()

    # Page 5: soft key, with codes computed from the secret the page shows.
    page.get_by_role("link", name="Set up soft key").click()
    page.get_by_label("Your password").fill(STRONG)
    page.get_by_role("button", name="Continue").click()
    secret = page.locator("#secret")
    expect(secret).to_be_visible()
    world.totp_secret = secret.get_attribute("data-secret") or ""
    assert world.totp_secret.replace(" ", "") == secret.inner_text().replace(" ", "")
    expect(page.locator("#qr")).to_have_attribute(
        "src", re.compile(r"^data:image/svg\+xml;base64,")
    )
    totp = pyotp.TOTP(world.totp_secret)
    page.get_by_label("6-digit code").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#code-error")).to_contain_text("not right")
    pages.check(page, "05-soft-key")
    page.get_by_label("6-digit code").fill(totp.now())
    page.get_by_role("button", name="Confirm").click()
    codes = page.locator("#recovery-codes li")
    expect(codes).to_have_count(10)
    world.recovery_codes = codes.all_inner_texts()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download codes").click()
    saved = open(download.value.path(), encoding="utf-8").read()
    assert all(code in saved for code in world.recovery_codes)
    pages.check(page, "05-soft-key-recovery-codes")

    # Page 6: elevate with the next code (one step of drift is allowed; each step once).
    page.get_by_role("link", name="Elevate access").first.click()
    page.get_by_label(re.compile("Code from your authenticator app")).fill(
        totp.at(time.time() + 30)
    )
    page.get_by_role("button", name="Elevate").click()
    expect(page.locator("#elevated")).to_be_visible()
    expect(page.locator("#time-left")).to_have_text(re.compile(r"^(19|20):\d\d$"))
    expect(page.locator("#elevation-status")).to_contain_text("Elevated")
    pages.check(page, "06-elevate")

    # Page 9: the chronology, filtered by category and date.
    page.get_by_role("link", name="Chronology", exact=True).click()
    pick_by_keyboard(page, "#student", "zoe", "Zoë Marsh")
    items = page.locator("#incidents > li")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Online safety")
    expect(items.first.locator(".description")).to_contain_text("<img src=x")
    page.get_by_label("Category").select_option(label="Online safety")
    expect(items).to_have_count(1)
    page.get_by_label("From").fill("2099-01-01")
    page.get_by_label("From").dispatch_event("change")
    expect(items).to_have_count(0)
    expect(page.locator("#count")).to_have_text(re.compile("Showing 0 of 1"))
    page.get_by_label("From").fill("")
    page.get_by_label("From").dispatch_event("change")
    expect(items).to_have_count(1)
    pages.check(page, "09-chronology")

    # Nothing about a pupil in the address bar or in the browser's storage.
    assert "zo" not in page.url.lower()
    stored = page.evaluate(
        "() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )
    assert "Zoë" not in stored and "Marsh" not in stored
    assert page.evaluate("() => localStorage.length") == 0
    assert page.evaluate("() => Object.keys(sessionStorage)") == ["haven.csrf"]


def test_a_recovery_code_elevates_and_the_chronology_goes_when_elevation_ends(page, world):  # type: ignore[no-untyped-def]
    page.clock.install()
    log_in(page, email("dee.lead"))
    page.get_by_role("link", name="Elevate access").first.click()
    page.get_by_label(re.compile("Code from your authenticator app")).fill(world.recovery_codes[0])
    page.get_by_role("button", name="Elevate").click()
    expect(page.locator("#elevated")).to_be_visible()
    page.get_by_role("link", name="Chronology", exact=True).click()
    expect(page.locator("#elevation-status")).to_contain_text("left")
    pick_by_keyboard(page, "#student", "zoe", "Zoë Marsh")
    expect(page.locator("#incidents > li")).to_have_count(1)

    page.clock.fast_forward("20:05")
    expect(page.locator("#elevation-status")).to_have_text("Not elevated")
    expect(page.locator("#results")).to_be_hidden()
    expect(page.locator("#incidents > li")).to_have_count(0)


def test_admin_unlocks_an_account_and_resets_a_soft_key(page, running_stack, world, pages):  # type: ignore[no-untyped-def]
    log_in(page, email("ada.admin"))
    page.get_by_role("link", name="Administration").click()
    page.get_by_label("Find a member of staff").fill("Dee")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#staff-rows tr")).to_have_count(1)
    page.get_by_role("button", name="Unlock Dee Lead").click()
    expect(page.locator("#account-message")).to_contain_text("unlocked")
    before = len(mail_to(running_stack, email("dee.lead")))
    page.get_by_role("button", name="Reset soft key of Dee Lead").click()
    expect(page.locator("#account-message")).to_contain_text("soft key is reset")
    wait_for(lambda: len(mail_to(running_stack, email("dee.lead"))) > before)

    with httpx.Client(base_url=running_stack.base_url) as client:
        token = client.post(
            "/api/v1/auth/login", json={"email": email("dee.lead"), "password": STRONG}
        ).json()["token"]
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["totp_enrolled"] is False


def test_a_member_of_two_schools_chooses_the_school_in_the_toolbar(page, running_stack, world):  # type: ignore[no-untyped-def]
    second = "Elmbridge Juniors"
    with httpx.Client(base_url=running_stack.base_url) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": email("ada.admin"), "password": STRONG}
        ).json()
        bearer = {"Authorization": f"Bearer {login['token']}"}
        trust_id = login["user"]["memberships"][0]["trust_id"]
        school = client.post(
            "/api/v1/admin/schools", json={"trust_id": trust_id, "name": second}, headers=bearer
        )
        assert school.status_code == 201, school.text
        joined = client.post(
            f"/api/v1/admin/schools/{school.json()['id']}/staff",
            json={"items": [{"email": email("ada.admin"), "name": "Ada Admin", "role": "admin"}]},
            headers=bearer,
        )
        assert joined.status_code == 200 and not joined.json()["errors"], joined.text

    log_in(page, email("ada.admin"))
    page.get_by_role("link", name="Administration").click()
    chooser = page.get_by_label("School", exact=True)
    expect(chooser.locator("option")).to_have_count(2)
    chooser.select_option(label=second)
    expect(page.locator("#school-name")).to_have_text(f"School: {second}")
    expect(page.locator("#staff-rows tr")).to_have_count(1)  # only Ada, in the new school
    page.get_by_label("School", exact=True).select_option(label=SCHOOL)
    expect(page.locator("#school-name")).to_have_text(f"School: {SCHOOL}")
    expect(page.locator("#staff-rows tr")).to_have_count(4)


def test_every_page_sends_a_strict_content_security_policy(running_stack, pages):  # type: ignore[no-untyped-def]
    for path in ("/login", "/forgotten-password", "/reset-password", "/dashboard", "/soft-key",
                 "/elevate", "/incidents/new", "/incidents/x", "/chronology", "/admin"):  # fmt: skip
        reply = httpx.get(f"{running_stack.base_url}{path}")
        assert reply.status_code == 200, path
        policy = reply.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "style-src 'self'" in policy, path
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in reply.text and " style=" not in reply.text, path
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", reply.text), f"inline handler in {path}"


def test_the_pages_asked_only_this_origin_and_only_documented_endpoints(running_stack, pages):  # type: ignore[no-untyped-def]
    """Run last: every request the pages above made, checked against the OpenAPI document."""
    assert len(pages.checked) >= 10
    document = httpx.get(f"{running_stack.base_url}/api/v1/openapi.json").json()
    routes = [
        (method.upper(), re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"))
        for path, operations in document["paths"].items()
        for method in operations
    ]
    api_calls = set()
    for method, url in pages.requests:
        if url.startswith(("data:", "blob:")):
            continue
        assert url.startswith(running_stack.base_url + "/"), f"request to another origin: {url}"
        path = httpx.URL(url).path
        if path.startswith("/api/"):
            api_calls.add((method, path))
    assert api_calls
    undocumented = sorted(
        (method, path)
        for method, path in api_calls
        if not any(m == method and pattern.match(path) for m, pattern in routes)
    )
    assert not undocumented, undocumented
