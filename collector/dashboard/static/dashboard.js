// The dashboard's only script (its Content-Security-Policy allows no inline one).
"use strict";

// The app picker: choosing an app opens it (the form's button does when scripts are off).
for (const select of document.querySelectorAll("[data-submit-on-change]")) {
  select.addEventListener("change", () => select.form.submit());
}

// "Live": re-fetch the rows for the same filters; a lapsed session sends us to the login.
const rows = document.querySelector("[data-refresh-ms]");
if (rows) {
  const source = new URL(location.href);
  source.searchParams.set("partial", "rows");
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const answer = await fetch(source, {credentials: "same-origin"});
      if (answer.status === 401) location.reload();
      else if (answer.ok) rows.innerHTML = await answer.text();
    } catch (error) { /* the server is restarting; try again next tick */ }
  }, Number(rows.dataset.refreshMs));
}
