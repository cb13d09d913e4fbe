"""The experiment page's "Also recommended" table and its "Add as competitor" action."""

from __future__ import annotations

from html import unescape

import httpx

from tests.web.pages import origin, page, post_form, sign_up, text_of
from tests.web.test_experiment_actions import detail, finished_experiment


async def test_also_recommended_lists_untracked_names_and_adds_one(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    experiment_id = await finished_experiment(client, **{"iterations": "20"})
    path = f"/experiments/{experiment_id}"
    html = unescape(await page(client, path))
    section = html[html.index('id="discovered"') :]
    section = section[: section.index("</section>")]
    assert "Also recommended" in section and "badge synthetic" in section
    assert "Attio</th>" in section and "n\xa0=\xa020" in section
    assert '<input type="hidden" name="name" value="Attio">' in section
    assert 'Add <span class="visually-hidden">Attio </span>as competitor' in section
    assert 'name="csrf_token"' in section

    response = await post_form(client, f"{path}/competitors", {"name": "Attio"}, token_from=path)
    assert response.status_code == 303
    assert response.headers["location"] == f"{path}#discovered"
    after = await detail(client, experiment_id)
    assert [c["name"] for c in after["brands"]["competitors"]] == ["Evernote", "Attio"]
    assert "Attio" in after["providers"][0]["metrics"]["mention_rates"]
    assert after["providers"][0]["succeeded"] == 20  # the same answers, scored again
    html = unescape(await page(client, path))
    section = html[html.index('id="discovered"') :]
    assert "Attio</th>" not in section[: section.index("</section>")]

    again = await post_form(client, f"{path}/competitors", {"name": "Attio"}, token_from=path)
    assert again.status_code == 409 and "<html" in again.text
    assert "already tracked" in text_of(again.text)
    blank = await post_form(client, f"{path}/competitors", {"name": " "}, token_from=path)
    assert blank.status_code == 422 and "Give the name" in text_of(blank.text)
    forged = await client.post(f"{path}/competitors", data={"name": "Keap"}, headers=origin(client))
    assert forged.status_code == 403
    assert [c["name"] for c in (await detail(client, experiment_id))["brands"]["competitors"]] == [
        "Evernote",
        "Attio",
    ]
