// List washing in the console (docs/console.md): the CSV is read in the browser a piece at a time
// (File.stream), parsed (RFC 4180: quoted fields, "" inside quotes, CRLF or LF, comma or semicolon),
// sent to /console/wash/batch in batches of 5,000 identifiers, and every answered batch becomes a
// Blob part of the result at once, so neither the page nor the server holds the whole list.
"use strict";

(function () {
  const form = document.getElementById("wash-form");
  if (!form) return;
  const fileInput = document.getElementById("wash-file");
  const column = document.getElementById("wash-column");
  const button = document.getElementById("wash-start");
  const progress = document.getElementById("wash-progress");
  const status = document.getElementById("wash-status");
  const result = document.getElementById("wash-result");
  const summary = document.getElementById("wash-summary");
  const download = document.getElementById("wash-download");
  const csrf = form.querySelector("input[name=csrf]").value;
  const texts = JSON.parse(document.getElementById("wash-texts").textContent);
  const BATCH = 5000;

  function say(text) { status.textContent = text; }
  function fill(template, values) { return template.replace(/\{(\w+)\}/g, (_, k) => String(values[k])); }

  // A CSV parser fed text in pieces; rows come out through onRow(fields).
  function csvParser(delimiter, onRow) {
    let field = "", row = [], quoted = false, afterQuote = false, pendingCR = false;
    function endField() { row.push(field); field = ""; afterQuote = false; }
    function endRow() { endField(); onRow(row); row = []; }
    return {
      push(text) {
        for (let i = 0; i < text.length; i++) {
          const c = text[i];
          if (pendingCR) { pendingCR = false; if (c === "\n") continue; }
          if (quoted) {
            if (c === '"') { quoted = false; afterQuote = true; } else field += c;
            continue;
          }
          if (c === '"') {
            if (afterQuote) { field += '"'; quoted = true; afterQuote = false; }
            else if (field === "") quoted = true;
            else field += c;
          } else if (c === delimiter) endField();
          else if (c === "\n") endRow();
          else if (c === "\r") { endRow(); pendingCR = true; }
          else { field += c; afterQuote = false; }
        }
      },
      end() { if (field !== "" || row.length) endRow(); },
    };
  }

  function quote(value) {
    const s = value == null ? "" : String(value);
    return /[",;\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  let header = null, delimiter = ",";

  fileInput.addEventListener("change", async () => {
    result.hidden = true;
    column.innerHTML = "";
    header = null;
    const file = fileInput.files[0];
    if (!file) return;
    const head = await file.slice(0, 65536).text();
    const firstLine = head.split(/\r?\n/, 1)[0];
    delimiter = (firstLine.split(";").length > firstLine.split(",").length) ? ";" : ",";
    csvParser(delimiter, (fields) => { if (!header) header = fields; }).push(firstLine + "\n");
    const guess = header.findIndex((h) => /e-?mail|e-?post|phone|telefon|mobil|external|kund/i.test(h));
    header.forEach((name, i) => {
      const option = document.createElement("option");
      option.value = String(i);
      option.textContent = name || "#" + (i + 1);
      if (i === Math.max(guess, 0)) option.selected = true;
      column.appendChild(option);
    });
    const by = document.getElementById("wash-by");
    const name = header[Math.max(guess, 0)] || "";
    by.value = /phone|telefon|mobil/i.test(name) ? "phone" : /external|kund/i.test(name) ? "external_id" : "email";
    say(fill(texts.columns, { n: header.length }));
  });

  async function decide(values) {
    const response = await fetch("/console/wash/batch", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({
        purpose: form.purpose.value, channel: form.channel.value, by: form.by.value, values: values,
      }),
    });
    if (!response.ok) throw new Error((await response.text()).slice(0, 300) || String(response.status));
    return (await response.json()).results;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = fileInput.files[0];
    if (!file || !header) { say(texts.choose); return; }
    const index = Number(column.value);
    button.disabled = true;
    result.hidden = true;
    progress.value = 0;
    progress.hidden = false;
    // The answer keeps the file's delimiter, and starts with a byte-order mark so that Excel reads
    // the UTF-8 (å, ä, ö) as such.
    const head = header.concat(["allowed", "reason", "rule", "expires_at"]).map(quote).join(delimiter);
    const parts = [new Blob(["\ufeff" + head + "\r\n"])];
    const counts = {};
    let rows = 0, allowed = 0, first = true, batch = [];
    const started = Date.now();

    async function flush() {
      if (!batch.length) return;
      const current = batch;
      batch = [];
      const answers = await decide(current.map((fields) => (fields[index] || "").trim()));
      let out = "";
      current.forEach((fields, i) => {
        const a = answers[i];
        counts[a[1]] = (counts[a[1]] || 0) + 1;
        if (a[0]) allowed++;
        out += fields.concat([a[0] ? "true" : "false", a[1], a[2] || "", a[3] || ""]).map(quote).join(delimiter) + "\r\n";
      });
      parts.push(new Blob([out]));
      rows += current.length;
    }

    const queue = [];
    const parser = csvParser(delimiter, (fields) => {
      if (first) { first = false; return; }
      if (fields.length === 1 && fields[0] === "") return;
      queue.push(fields);
    });
    try {
      const reader = file.stream().getReader();
      const decoder = new TextDecoder("utf-8");
      let read = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        read += value.length;
        parser.push(decoder.decode(value, { stream: true }));
        while (queue.length) {
          batch.push(queue.shift());
          if (batch.length >= BATCH) await flush();
        }
        progress.value = Math.min(99, Math.floor((100 * read) / file.size));
        say(fill(texts.progress, { rows: rows, percent: progress.value }));
      }
      parser.push(decoder.decode());
      parser.end();
      while (queue.length) batch.push(queue.shift());
      await flush();
    } catch (error) {
      say(texts.failed + " " + error.message);
      button.disabled = false;
      return;
    }
    progress.value = 100;
    const blob = new Blob(parts, { type: "text/csv;charset=utf-8" });
    download.href = URL.createObjectURL(blob);
    download.download = file.name.replace(/\.csv$/i, "") + "-washed.csv";
    summary.innerHTML = "";
    Object.keys(counts).sort().forEach((reason) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = reason;
      const td = document.createElement("td");
      td.textContent = String(counts[reason]);
      tr.append(th, td);
      summary.appendChild(tr);
    });
    result.hidden = false;
    result.dataset.rows = String(rows);
    say(fill(texts.done, { rows: rows, allowed: allowed, seconds: ((Date.now() - started) / 1000).toFixed(1) }));
    button.disabled = false;
  });
})();
