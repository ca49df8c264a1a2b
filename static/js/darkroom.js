// Darkroom portal: small progressive enhancements. Every page works without them.
(function () {
  "use strict";

  const on = (type, selector, handler) =>
    document.addEventListener(type, (event) => {
      const target = event.target.closest && event.target.closest(selector);
      if (target) handler(event, target);
    });

  // On a phone the main navigation folds into a menu button (CSS shows the button only
  // where scripts run; without them the items wrap onto lines of their own).
  document.documentElement.classList.add("js");
  on("click", "[data-nav-toggle]", (event, button) => {
    const nav = document.getElementById(button.getAttribute("aria-controls"));
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    if (nav) nav.classList.toggle("is-open", open);
  });

  // "Compare models" takes the prompt typed so far along (/compare/?prompt=...).
  on("click", "a[data-carry-prompt]", (event, link) => {
    const prompt = document.querySelector("form textarea[name=prompt]");
    if (!prompt || !prompt.value.trim()) return;
    const url = new URL(link.href, window.location.href);
    url.searchParams.set("prompt", prompt.value);
    link.href = url.toString();
  });

  // Selects and filters that submit their form as soon as they change.
  on("change", "[data-autosubmit]", (event, el) => el.form && el.form.requestSubmit());

  // The generate form's "Save preset": the same fields, posted plainly to another URL
  // (a native submit, so htmx's handler for generating does not take it).
  on("click", "[data-preset-save]", (event, button) => {
    const form = button.form;
    form.action = button.dataset.presetSave;
    HTMLFormElement.prototype.submit.call(form);
  });

  // Confirm destructive buttons.
  on("click", "[data-confirm]", (event, el) => {
    if (!window.confirm(el.dataset.confirm)) event.preventDefault();
  });

  // Copy text (the prompt, an invite link) to the clipboard.
  on("click", "[data-copy]", async (event, el) => {
    const source = document.querySelector(el.dataset.copy);
    if (!source) return;
    const text = "value" in source ? source.value : source.textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    const label = el.textContent;
    el.textContent = el.dataset.copied || "✓";
    el.classList.add("is-done");
    setTimeout(() => { el.textContent = label; el.classList.remove("is-done"); }, 1500);
  });

  // Number inputs with a range get a slider next to them; both stay in sync.
  function enhanceSliders(root) {
    root.querySelectorAll("input[data-slider]:not([data-enhanced])").forEach((input) => {
      input.dataset.enhanced = "1";
      const range = document.createElement("input");
      range.type = "range";
      range.min = input.min; range.max = input.max; range.step = input.step || "any";
      range.value = input.value || input.min;
      range.tabIndex = -1; // the number input is the keyboard control
      range.setAttribute("aria-hidden", "true");
      range.className = "slider";
      range.addEventListener("input", () => { input.value = range.value; });
      input.addEventListener("input", () => { if (input.value !== "") range.value = input.value; });
      const wrap = document.createElement("div");
      wrap.className = "slider-row";
      input.parentNode.insertBefore(wrap, input);
      wrap.append(range, input);
    });
  }

  // Reference images: drag and drop onto the drop zone, file previews, URL previews.
  const pending = new WeakMap(); // file input -> DataTransfer holding chosen files

  function filesOf(input) {
    if (!pending.has(input)) pending.set(input, new DataTransfer());
    return pending.get(input);
  }

  function renderPreviews(field) {
    const input = field.querySelector('input[type="file"]');
    const box = field.querySelector("[data-previews]");
    box.querySelectorAll("[data-file], [data-url]").forEach((el) => el.remove());
    Array.from(input.files).forEach((file, index) => {
      box.appendChild(previewFigure(URL.createObjectURL(file), file.name, { file: index }));
    });
    const urls = field.querySelector("textarea[data-url-preview]");
    (urls ? urls.value.split(/\s+/) : []).filter((u) => /^https?:\/\//i.test(u)).forEach((url) => {
      const fig = previewFigure(url, url, { url: url });
      fig.dataset.why = privateHost(url) ? field.dataset.msgPrivate : field.dataset.msgNoPreview;
      box.appendChild(fig);
    });
  }

  // The server refuses these (the SSRF guard, common/net.py); say so before it has to.
  function privateHost(url) {
    let host;
    try { host = new URL(url).hostname.replace(/^\[|\]$/g, "").toLowerCase(); } catch (err) { return false; }
    return host === "localhost" || host.endsWith(".localhost") || host.endsWith(".local") ||
      host.endsWith(".internal") || host === "::1" || /^(fc|fd|fe80)/.test(host) ||
      /^(127|10|0)\./.test(host) || /^192\.168\./.test(host) || /^169\.254\./.test(host) ||
      /^172\.(1[6-9]|2\d|3[01])\./.test(host);
  }

  function previewFigure(src, label, data) {
    const fig = document.createElement("figure");
    fig.className = "preview";
    Object.entries(data).forEach(([k, v]) => { fig.dataset[k] = v; });
    const img = document.createElement("img");
    img.src = src; img.alt = label;
    img.addEventListener("error", () => {
      fig.classList.add("is-broken");
      if (fig.dataset.why) {
        const why = document.createElement("figcaption");
        why.className = "preview-why";
        why.textContent = fig.dataset.why;
        fig.title = fig.dataset.why;
        fig.appendChild(why);
      }
    });
    const remove = document.createElement("button");
    remove.type = "button"; remove.className = "preview-remove"; remove.textContent = "×";
    remove.setAttribute("aria-label", (document.documentElement.lang.startsWith("zh") ? "移除 " : "Remove ") + label);
    remove.dataset.removePreview = "";
    fig.append(img, remove);
    return fig;
  }

  function addFiles(field, files) {
    const input = field.querySelector('input[type="file"]');
    const max = parseInt(field.dataset.max || "1", 10);
    const chosen = max === 1 ? new DataTransfer() : filesOf(input);
    Array.from(files).filter((f) => f.type.startsWith("image/")).forEach((f) => {
      if (chosen.items.length < max) chosen.items.add(f);
    });
    pending.set(input, chosen);
    input.files = chosen.files;
    clearFieldError(field);
    renderPreviews(field);
  }

  on("change", '[data-image-field] input[type="file"]', (event, input) => {
    const field = input.closest("[data-image-field]");
    const max = parseInt(field.dataset.max || "1", 10);
    if (max > 1) {
      // Choosing again adds to the selection instead of replacing it.
      const files = Array.from(input.files);
      const chosen = filesOf(input);
      files.forEach((f) => { if (chosen.items.length < max) chosen.items.add(f); });
      input.files = chosen.files;
    }
    renderPreviews(field);
  });
  on("input", "[data-image-field] textarea[data-url-preview]", (event, el) => {
    clearTimeout(el._t);
    el._t = setTimeout(() => renderPreviews(el.closest("[data-image-field]")), 400);
  });
  on("click", "[data-remove-preview]", (event, button) => {
    const fig = button.closest(".preview");
    const field = button.closest("[data-image-field]");
    if ("file" in fig.dataset) {
      const input = field.querySelector('input[type="file"]');
      const kept = new DataTransfer();
      Array.from(input.files).forEach((f, i) => { if (String(i) !== fig.dataset.file) kept.items.add(f); });
      pending.set(input, kept);
      input.files = kept.files;
    } else if ("url" in fig.dataset) {
      const area = field.querySelector("textarea[data-url-preview]");
      area.value = area.value.split(/\n/).filter((u) => u.trim() !== fig.dataset.url).join("\n");
    }
    fig.remove();
    renderPreviews(field);
  });
  ["dragenter", "dragover"].forEach((type) => on(type, ".dropzone", (event, zone) => {
    event.preventDefault();
    zone.classList.add("is-over");
  }));
  ["dragleave", "drop"].forEach((type) => on(type, ".dropzone", (event, zone) => {
    event.preventDefault();
    zone.classList.remove("is-over");
    if (type === "drop" && event.dataTransfer) addFiles(zone.closest("[data-image-field]"), event.dataTransfer.files);
  }));

  // Pasting an image (a screenshot, a copied picture) adds it to the reference images:
  // to the image field holding the focus, else the first one on the page.
  document.addEventListener("paste", (event) => {
    const files = Array.from((event.clipboardData && event.clipboardData.files) || [])
      .filter((f) => f.type.startsWith("image/"));
    const active = document.activeElement;
    const field = (active && active.closest && active.closest("[data-image-field]")) ||
      document.querySelector("[data-image-field]");
    if (!files.length || !field) return;
    event.preventDefault();
    addFiles(field, files);
    field.querySelector(".dropzone").classList.add("is-pasted");
    setTimeout(() => field.querySelector(".dropzone").classList.remove("is-pasted"), 600);
  });

  // "Compare": only the chosen models' settings show (every model's, without scripts).
  function syncCompare(form) {
    const chosen = new Set(Array.from(form.querySelectorAll('input[name="models"]:checked'), (i) => i.value));
    form.querySelectorAll("[data-params-for]").forEach((panel) => {
      panel.classList.toggle("is-chosen", chosen.has(panel.dataset.paramsFor));
    });
    const empty = form.querySelector("[data-compare-empty]");
    if (empty) empty.hidden = chosen.size > 0;
  }
  on("change", '[data-compare] input[name="models"]', (event, input) => syncCompare(input.form));

  // API key model allow-list: a search over friendly labels, the chosen ones as chips.
  function renderAllowChips(box) {
    const selected = box.querySelector("[data-allow-selected]");
    selected.querySelectorAll(".chip").forEach((chip) => chip.remove());
    const checked = Array.from(box.querySelectorAll('input[type="checkbox"]:checked'));
    checked.forEach((input) => {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip chip-removable";
      chip.dataset.allowRemove = input.id;
      chip.textContent = input.closest("label").querySelector("span").textContent + " ×";
      selected.appendChild(chip);
    });
    selected.querySelector("[data-allow-none]").hidden = checked.length > 0;
  }
  on("change", "[data-model-allow] input[type=checkbox]", (event, input) => renderAllowChips(input.closest("[data-model-allow]")));
  on("click", "[data-allow-remove]", (event, chip) => {
    const input = document.getElementById(chip.dataset.allowRemove);
    input.checked = false;
    renderAllowChips(input.closest("[data-model-allow]"));
  });
  on("input", "[data-allow-search]", (event, search) => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    search.closest("[data-model-allow]").querySelectorAll("[data-allow-option]").forEach((row) => {
      const text = row.dataset.allowOption;
      row.hidden = !words.every((w) => text.includes(w));
    });
  });

  // Gallery selection: a toolbar appears once something is selected.
  function updateSelection() {
    const bar = document.querySelector("[data-selection-bar]");
    if (!bar) return;
    const count = document.querySelectorAll(".tile-check:checked").length;
    bar.hidden = count === 0;
    bar.querySelector("[data-selected-count]").textContent = count;
    document.body.classList.toggle("is-selecting", count > 0);
  }
  on("change", ".tile-check", updateSelection);
  on("click", "[data-clear-selection]", () => {
    document.querySelectorAll(".tile-check:checked").forEach((c) => { c.checked = false; });
    updateSelection();
  });

  // A field's error goes as soon as the person changes that field.
  function clearFieldError(el) {
    const field = el.closest && el.closest(".field");
    if (!field) return;
    field.classList.remove("has-error");
    field.querySelectorAll(".field-errors").forEach((box) => { box.replaceChildren(); });
  }
  ["input", "change"].forEach((type) => on(type, "#generate-form .field", (event) => clearFieldError(event.target)));

  // Errors swapped in after a submit mark their field, as a full page render would.
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    const old = event.detail.target; // replaced by the swap: find its successor by id
    if (!old || !old.classList || !old.classList.contains("field-errors")) return;
    const box = document.getElementById(old.id);
    const field = box && box.closest(".field");
    if (field) field.classList.toggle("has-error", box.children.length > 0);
  });

  // Gallery tiles keep their image's shape: each tile's width follows its aspect ratio
  // (a justified layout, see .grid in the CSS), so nothing is cropped to a square.
  // Set from data attributes, not style="": a strict CSP (style-src 'self') allows this.
  function shapeTiles(root) {
    root.querySelectorAll(".ratio-swatch[data-ratio]").forEach((el) => { el.style.aspectRatio = el.dataset.ratio; });
    root.querySelectorAll(".tile[data-w][data-h]").forEach((tile) => {
      const w = parseFloat(tile.dataset.w), h = parseFloat(tile.dataset.h);
      if (w > 0 && h > 0) tile.style.setProperty("--r", (w / h).toFixed(4));
    });
  }

  // Live status: one server-sent-events stream per page (data-live-url on the body)
  // carries this person's job changes, rendered; cards and tiles poll only while it is
  // down (or when the server has it switched off).
  let liveUp = false;
  let lastEventId = "";
  function swapIn(old, html) {
    const holder = document.createElement("template");
    holder.innerHTML = html;
    const fresh = holder.content.firstElementChild;
    if (!fresh) return;
    // The card or tile that just changed is the one being watched: its images load at
    // once, not a frame later when the lazy loader has looked (a page's own stay lazy).
    fresh.querySelectorAll("img[loading=lazy]").forEach((img) => { img.loading = "eager"; });
    old.replaceWith(fresh);
    if (window.htmx) window.htmx.process(fresh);
  }
  function applyJob(data) {
    const card = document.getElementById("job-" + data.id);
    if (card && card.dataset.status !== data.status) swapIn(card, data.card);
    const tile = document.getElementById("gen-" + data.id);
    if (tile && tile.dataset.status !== data.status) {
      swapIn(tile, data.tile);
      shapeTiles(document);
      updateSelection();
    }
  }
  function applyQuota(data) {
    const model = document.querySelector("#generate-form [name=model]");
    const row = document.getElementById("submit-row");
    if (data.quota && row && model && model.value === data.model) swapIn(row, data.quota);
  }
  function connectLive() {
    const url = document.body.dataset.liveUrl;
    if (!url || !window.EventSource) return;
    const since = lastEventId || document.body.dataset.liveSince || "";
    const source = new EventSource(url + "?since=" + encodeURIComponent(since));
    source.addEventListener("open", () => {
      liveUp = true;
      document.body.dataset.live = "up";
      clearTimeout(cardTimer); clearTimeout(tileTimer);
    });
    source.addEventListener("job", (event) => {
      lastEventId = event.lastEventId || lastEventId;
      applyJob(JSON.parse(event.data));
    });
    source.addEventListener("quota", (event) => applyQuota(JSON.parse(event.data)));
    source.addEventListener("error", () => {
      liveUp = false;
      document.body.dataset.live = "down";
      pollCards(); pollPendingTiles();
      // The browser retries by itself unless the server refused the stream outright.
      if (source.readyState === EventSource.CLOSED) setTimeout(connectLive, 5000);
    });
  }

  // While the stream is down: each running card asks every second.
  let cardTimer = null;
  function pollCards() {
    clearTimeout(cardTimer);
    if (liveUp || !document.querySelector(".job[data-poll-url]")) return;
    cardTimer = setTimeout(async () => {
      if (liveUp) return;
      try {
        await Promise.all(Array.from(document.querySelectorAll(".job[data-poll-url]")).map(async (card) => {
          const response = await fetch(card.dataset.pollUrl, { credentials: "same-origin" });
          if (response.ok && !liveUp) swapIn(card, await response.text());
        }));
      } finally {
        pollCards();
      }
    }, 1000);
  }

  // While the stream is down: running tiles, one request for all of them every 2 s.
  let tileTimer = null;
  function pollPendingTiles() {
    clearTimeout(tileTimer);
    const grid = document.querySelector("[data-tiles-url]");
    const pending = Array.from(document.querySelectorAll("[data-pending]"));
    if (liveUp || !grid || !pending.length) return;
    tileTimer = setTimeout(async () => {
      if (liveUp) return;
      const query = new URLSearchParams();
      pending.forEach((el) => query.append("id", el.dataset.pending));
      try {
        const response = await fetch(grid.dataset.tilesUrl + "?" + query, { credentials: "same-origin" });
        if (response.ok && !liveUp) {
          const holder = document.createElement("template");
          holder.innerHTML = await response.text();
          holder.content.querySelectorAll(".gen").forEach((fresh) => {
            const old = document.getElementById(fresh.id);
            if (old) old.replaceWith(fresh);
          });
          shapeTiles(grid);
          updateSelection();
        }
      } finally {
        pollPendingTiles();
      }
    }, 2000);
  }

  // Lightbox: a tile opens its image full size; ←/→ step through the page, Esc closes.
  let lightboxIndex = 0;
  const lightboxLinks = () => Array.from(document.querySelectorAll("a[data-lightbox]"));
  function showInLightbox(index) {
    const box = document.getElementById("lightbox");
    const links = lightboxLinks();
    if (!box || !links.length) return;
    lightboxIndex = (index + links.length) % links.length;
    const link = links[lightboxIndex];
    const img = box.querySelector(".lightbox-img");
    // The detail page's original, full size (a board page names its own, data-original).
    img.src = link.dataset.original || new URL("original/", link.href).href;
    img.alt = link.dataset.prompt || "";
    box.querySelector(".lightbox-label").textContent = link.dataset.label || "";
    box.querySelector(".lightbox-prompt").textContent = link.dataset.prompt || "";
    box.querySelector(".lightbox-count").textContent = (lightboxIndex + 1) + " / " + links.length;
    box.querySelector(".lightbox-details").href = link.getAttribute("href");
    const onBoard = box.querySelector("[data-board-image]"); // "Add to board" in the lightbox
    if (onBoard) onBoard.value = link.dataset.image || "";
    if (!box.open) box.showModal();
  }
  on("click", "a[data-lightbox]", (event, link) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    showInLightbox(lightboxLinks().indexOf(link));
  });
  on("click", "[data-lightbox-step]", (event, button) => showInLightbox(lightboxIndex + parseInt(button.dataset.lightboxStep, 10)));
  on("click", "[data-lightbox-close]", () => document.getElementById("lightbox").close());
  on("click", "#lightbox", (event, box) => { if (event.target === box) box.close(); }); // the backdrop
  document.addEventListener("keydown", (event) => {
    const box = document.getElementById("lightbox");
    if (!box || !box.open) return;
    if (event.key === "ArrowRight") { event.preventDefault(); showInLightbox(lightboxIndex + 1); }
    if (event.key === "ArrowLeft") { event.preventDefault(); showInLightbox(lightboxIndex - 1); }
  });

  // A freshly submitted job scrolls into view on narrow screens, where it sits below the form.
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    const job = event.detail.target && event.detail.target.querySelector && event.detail.target.querySelector(".job-fresh");
    if (job && window.innerWidth < 900) job.scrollIntoView({ behavior: "smooth", block: "center" });
  });

  document.addEventListener("htmx:afterSettle", (event) => {
    enhanceSliders(event.target); shapeTiles(document); updateSelection(); pollCards(); pollPendingTiles();
  });
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-model-allow]").forEach(renderAllowChips);
    document.querySelectorAll("form[data-compare]").forEach(syncCompare);
    enhanceSliders(document); shapeTiles(document); updateSelection();
    connectLive(); // once it opens, the polls below are called off before they send
    pollCards(); pollPendingTiles();
  });
})();
