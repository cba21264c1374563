// Chat in the browser (docs/web.md "Chat in the browser"): this page's tab is a session on the server, like a SIP
// client's dialog. Commands go to /api/chat/tabs/<tab>/...; everything the server pushes (posts, joins, parts,
// new content, invitations) arrives as Server-Sent Events, each numbered. Posts carry their room's sequence number,
// so history, catch-up and live posts merge by seq without gaps or repeats. User text is set with textContent only.
"use strict";

(() => {
  const chat = {
    tab: null,          // the tab's id
    source: null,       // the EventSource
    lastEvent: 0,       // the last event number seen (a new stream resumes after it)
    rooms: new Map(),   // uri -> room state (below)
    current: null,      // the uri shown
    invitations: new Map(), // id -> invitation
    starting: null,     // the promise of start()
    stopped: true,
  };

  // A room as the page keeps it.
  function roomState(uri) {
    let r = chat.rooms.get(uri);
    if (!r) {
      r = { uri, name: uri, topic: "", joined: false, listed: false, followed: false, manager: false,
            messages: new Map(), olderDone: false, unread: 0, fresh: false,
            people: new Map(), online: 0 };
      chat.rooms.set(uri, r);
    }
    return r;
  }

  const guidOf = (uri) => uri.slice(uri.lastIndexOf("/") + 1);
  const lastReadKey = (uri) => `pchat.read.${me.user}.${uri}`;
  const lastRead = (uri) => Number(localStorage.getItem(lastReadKey(uri)) || 0);
  const newest = (r) => (r.messages.size ? Math.max(...r.messages.keys()) : 0);
  const oldest = (r) => (r.messages.size ? Math.min(...r.messages.keys()) : 0);

  async function tabApi(method, path, body) {
    try {
      return await api(method, `/api/chat/tabs/${chat.tab}${path}`, body);
    } catch (err) {
      if (err.status === 404 && /chat tab/.test(err.message)) recover(); // the server closed our tab
      throw err;
    }
  }

  // --- the event stream --------------------------------------------------------------------------------------------

  function connect() {
    if (chat.source) chat.source.close();
    // EventSource sends Last-Event-ID itself only when it reconnects; a new one says where it was with ?after.
    const url = `/api/chat/tabs/${chat.tab}/events` + (chat.lastEvent ? `?after=${chat.lastEvent}` : "");
    const source = new EventSource(url);
    chat.source = source;
    source.onmessage = (ev) => {
      if (source !== chat.source) return;
      if (ev.lastEventId) chat.lastEvent = Number(ev.lastEventId);
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      handle(data);
    };
    source.onerror = () => {
      // CONNECTING: the browser retries by itself (with Last-Event-ID). CLOSED: the server refused the stream (the
      // tab is gone, e.g. after the server restarted): open a new tab and catch up room by room.
      if (source === chat.source && source.readyState === EventSource.CLOSED) recover();
    };
  }

  function handle(ev) {
    switch (ev.type) {
      case "post": {
        const r = roomState(ev.room);
        if (r.messages.has(ev.seq)) return;
        r.messages.set(ev.seq, ev);
        if (ev.room === chat.current && !document.hidden) {
          appendMessage(ev);
          markRead(r);
        } else if (ev.author !== me.user) {
          r.unread += 1;
          renderRoomList();
        }
        return;
      }
      case "join":
      case "part": {
        const r = roomState(ev.room);
        if (ev.type === "part" && ev.user === me.user) r.joined = false; // the room let us go (roles, settings)
        if (ev.type === "join") r.people.set(ev.user, ev.manager);
        else r.people.delete(ev.user);
        r.online = Math.max(r.people.size, r.online + (ev.type === "join" ? 1 : -1));
        if (ev.room === chat.current) renderMembers(r);
        return;
      }
      case "newcontent": {
        const r = roomState(ev.room);
        r.name = ev.name || r.name;
        r.fresh = true;
        r.listed = true;
        renderRoomList();
        return;
      }
      case "invitation":
        chat.invitations.set(ev.id, ev);
        renderInvitations();
        say(`${ev.inviter ? ev.inviter.replace(/^sip:/, "") : "An administrator"} added you to ${ev.name}.`);
        return;
      case "reset":
        rejoin(joinedRooms()); // events were missed: catch up every joined room by its sequence numbers
        return;
      case "closed":
        chat.source.close();
        if (ev.reason !== "signed out") recover();
        else route();
        return;
      default:
    }
  }

  const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

  // The rooms this tab is in, each with the newest post the page has: where a catch-up starts. Taken at once, before
  // any await, so that live posts arriving while earlier rooms catch up cannot hide a later room's gap.
  const joinedRooms = () => [...chat.rooms.values()].filter((r) => r.joined).map((r) => [r, newest(r)]);

  // The server no longer has our tab: a new tab, the same rooms, everything after the newest post of each. Tried
  // again every 5 s until it works, or until the sign-in is gone.
  let recovering = false;
  async function recover() {
    if (recovering || chat.stopped) return;
    recovering = true;
    const rooms = joinedRooms();
    await sleep(500 + Math.random() * 1500); // no storm of reconnects after a restart
    while (!chat.stopped) {
      try {
        chat.tab = (await api("POST", "/api/chat/tabs", {})).tab;
        chat.lastEvent = 0;
        connect();
        await rejoin(rooms);
        break;
      } catch (err) {
        if (err.status === 401) {
          route();
          break;
        }
        await sleep(5000);
      }
    }
    recovering = false;
  }

  // Joins each of `rooms` again, catching up from the seq given with it.
  async function rejoin(rooms) {
    for (const [r, have] of rooms) await joinRoom(r, have).catch(() => {});
    if (chat.current) renderRoom(roomState(chat.current));
  }

  // --- rooms -------------------------------------------------------------------------------------------------------

  // Joins `r` (again): every post after `have` (catch-up), by default after the newest post the page has or else
  // the last one read in this browser; without either, the newest 50.
  async function joinRoom(r, have = newest(r) || lastRead(r.uri)) {
    const body = { room: r.uri };
    if (have) body.after = have;
    else body.history = 50;
    let j = await tabApi("POST", "/join", body);
    if (j.more) { // more than one catch-up's worth: start again from the newest posts
      r.messages.clear();
      r.olderDone = false;
      j = await tabApi("POST", "/join", { room: r.uri, history: 50 });
    }
    r.joined = true;
    r.listed = true;
    r.followed = true; // joining follows a room (docs/protocol.md "getassoc")
    r.name = j.room.name || r.name;
    r.topic = j.room.topic || "";
    for (const m of j.messages) r.messages.set(m.seq, m);
    r.people = new Map(j.participants.map((p) => [p.uri, p.manager]));
    r.online = j.online;
    const read = lastRead(r.uri);
    r.unread = [...r.messages.values()].filter((m) => m.seq > read && m.author !== me.user).length;
    r.fresh = false;
    return r;
  }

  function showNoRoom() {
    chat.current = null;
    $("chat-room").hidden = true;
    $("members-box").hidden = true;
    $("search-box").hidden = true;
    $("chat-empty").hidden = false;
    $("chat-messages").replaceChildren();
  }

  async function openRoom(uri) {
    const r = roomState(uri);
    chat.current = uri;
    $("search-box").hidden = true;
    try {
      if (!r.joined) await joinRoom(r);
      if (!r.olderDone && r.messages.size < 30) await loadOlder(r, false);
    } catch (err) {
      showNoRoom(); // nothing of another room stays on screen under this one's address
      throw err;
    }
    renderRoom(r);
    markRead(r);
    renderRoomList();
    $("chat-text").focus();
  }

  async function loadOlder(r, render) {
    const before = oldest(r);
    if (before === 1) {
      r.olderDone = true;
      return;
    }
    const h = await tabApi("GET", `/history?room=${encodeURIComponent(r.uri)}&n=50` + (before ? `&before=${before}` : ""));
    for (const m of h.messages) r.messages.set(m.seq, m);
    if (h.messages.length < 50) r.olderDone = true;
    if (render) {
      const list = $("chat-messages");
      const from = list.scrollHeight - list.scrollTop;
      renderMessages(r);
      list.scrollTop = list.scrollHeight - from; // stay where the reader was
    }
  }

  function markRead(r) {
    r.unread = 0;
    r.fresh = false;
    const seq = newest(r);
    if (seq > lastRead(r.uri)) localStorage.setItem(lastReadKey(r.uri), String(seq));
  }

  // --- rendering ---------------------------------------------------------------------------------------------------

  const shortUser = (uri) => uri.replace(/^sip:/, "");

  function timeOf(ts) {
    const d = new Date(ts);
    return isNaN(d) ? ts : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  // The text as text; each ma-filelink:// word becomes a download button (docs/protocol.md "Room files").
  function fillText(el, text, room) {
    const parts = text.split(/(ma-filelink:\/\/\S+)/);
    for (const part of parts) {
      if (!part.startsWith("ma-filelink://")) {
        el.append(part);
        continue;
      }
      let name = part.slice(part.lastIndexOf("/") + 1);
      try {
        name = decodeURIComponent(name);
      } catch (e) { /* as it is */ }
      const b = document.createElement("button");
      b.type = "button";
      b.className = "file";
      b.textContent = `⤓ ${name}`;
      b.setAttribute("aria-label", `Download ${name}`);
      b.addEventListener("click", () => download(room, part));
      el.append(b);
    }
  }

  function messageItem(m, room) {
    const li = document.createElement("li");
    li.className = "message";
    li.dataset.seq = String(m.seq);
    const head = document.createElement("div");
    head.className = "meta";
    const who = document.createElement("strong");
    who.textContent = shortUser(m.author);
    const when = document.createElement("time");
    when.dateTime = m.ts;
    when.textContent = timeOf(m.ts);
    head.append(who, " ", when);
    const body = document.createElement("div");
    body.className = "text";
    fillText(body, m.text, room);
    li.append(head, body);
    return li;
  }

  function renderMessages(r) {
    const list = $("chat-messages");
    const items = [...r.messages.values()].sort((a, b) => a.seq - b.seq).map((m) => messageItem(m, r.uri));
    list.replaceChildren(...items);
    $("chat-older").hidden = r.olderDone || oldest(r) === 1 || r.messages.size === 0;
  }

  function appendMessage(m) {
    const list = $("chat-messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    // In seq order even if a post overtakes another (history and live posts meet here).
    const item = messageItem(m, m.room);
    const after = [...list.children].find((li) => Number(li.dataset.seq) > m.seq);
    list.insertBefore(item, after || null);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function renderRoom(r) {
    $("chat-empty").hidden = true;
    $("chat-room").hidden = false;
    $("members-box").hidden = false;
    $("chat-room-name").textContent = r.name;
    $("chat-room-topic").textContent = r.topic;
    $("chat-room-topic").hidden = !r.topic;
    $("chat-follow").textContent = r.followed ? "Unfollow" : "Follow";
    $("chat-follow").setAttribute("aria-pressed", r.followed ? "true" : "false");
    $("chat-manage").hidden = !r.manager;
    $("chat-manage").href = `#/manage/room/${encodeURIComponent(guidOf(r.uri))}`;
    renderMessages(r);
    renderMembers(r);
    const list = $("chat-messages");
    list.scrollTop = list.scrollHeight;
  }

  function renderMembers(r) {
    const ul = $("chat-members");
    const people = [...r.people.entries()].sort((a, b) => a[0].localeCompare(b[0]));
    ul.replaceChildren(...people.map(([uri, manager]) => {
      const li = document.createElement("li");
      li.textContent = shortUser(uri) + (manager ? " (manager)" : "");
      return li;
    }));
    $("chat-online").textContent = `(${Math.max(r.online, people.length)})`;
    const more = $("chat-members-more");
    more.hidden = r.online <= people.length;
    more.textContent = `and ${r.online - people.length} more: this room is large, so joins and parts are not shown`;
  }

  function roomLink(r, onOpen) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `#/room/${encodeURIComponent(guidOf(r.uri))}`;
    a.textContent = r.name;
    if (r.uri === chat.current) a.setAttribute("aria-current", "page");
    if (onOpen) a.addEventListener("click", onOpen);
    li.appendChild(a);
    if (r.unread || r.fresh) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = r.unread ? String(r.unread) : "new";
      badge.setAttribute("aria-label", r.unread ? `${r.unread} unread` : "new messages");
      li.append(" ", badge);
    }
    return li;
  }

  function renderRoomList() {
    const mine = [...chat.rooms.values()].filter((r) => r.listed).sort((a, b) => a.name.localeCompare(b.name));
    $("my-rooms").replaceChildren(...mine.map((r) => roomLink(r)));
    $("my-rooms-empty").hidden = mine.length > 0;
    const unread = mine.reduce((n, r) => n + r.unread, 0);
    document.title = unread ? `(${unread}) pchat` : "pchat";
  }

  function renderInvitations() {
    const ul = $("invites");
    ul.replaceChildren(...[...chat.invitations.values()].map((inv) => {
      const r = roomState(inv.room);
      r.name = inv.name || r.name;
      const li = roomLink(r, () => chat.invitations.delete(inv.id));
      li.append(` (from ${inv.inviter ? shortUser(inv.inviter) : "an administrator"})`);
      return li;
    }));
    $("invites-box").hidden = chat.invitations.size === 0;
  }

  // --- actions -----------------------------------------------------------------------------------------------------

  async function post() {
    const box = $("chat-text");
    const text = box.value;
    if (!text.trim() || !chat.current) return;
    const room = chat.current;
    box.value = "";
    try {
      const r = await tabApi("POST", "/post", { room, text });
      const state = roomState(room);
      if (state.messages.has(r.seq)) markRead(state);
    } catch (err) {
      if (!box.value) box.value = text; // nothing is lost: the text comes back for another try
      showError(err);
    }
  }

  async function download(room, link) {
    showError(null);
    try {
      const t = await tabApi("POST", "/file-token", { room, upload: false, link });
      const a = document.createElement("a");
      a.href = `${t.url}?token=${encodeURIComponent(t.token)}`;
      a.rel = "noopener";
      document.body.appendChild(a);
      a.click(); // the server answers with Content-Disposition: attachment
      a.remove();
    } catch (err) {
      showError(err);
    }
  }

  async function upload() {
    const file = $("chat-file").files[0];
    if (!file || !chat.current) {
      showError(new Error("Choose a file first."));
      return;
    }
    showError(null);
    const room = chat.current;
    try {
      const t = await tabApi("POST", "/file-token", { room, upload: true, name: file.name });
      say(`Uploading ${file.name}…`);
      const res = await fetch(t.url, {
        method: "PUT",
        headers: { Authorization: `Bearer ${t.token}`, "Content-Type": file.type || "application/octet-stream" },
        body: file,
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(data.message || `${res.status} ${res.statusText}`);
      await tabApi("POST", "/post", { room, text: data.link });
      $("chat-file").value = "";
      say(`Shared ${file.name}.`);
    } catch (err) {
      showError(err);
    }
  }

  async function find(ev) {
    ev.preventDefault();
    showError(null);
    try {
      const data = await tabApi("GET", `/rooms?q=${encodeURIComponent($("find-text").value)}`);
      $("find-results").replaceChildren(...data.rooms.map((found) => {
        const r = roomState(found.uri);
        r.name = found.name;
        r.topic = found.topic;
        const li = roomLink(r);
        li.append(` · ${found.users} online`);
        if (found.description) {
          const d = document.createElement("div");
          d.className = "muted";
          d.textContent = found.description;
          li.appendChild(d);
        }
        return li;
      }));
      if (data.rooms.length === 0) say("No room matches.");
    } catch (err) {
      showError(err);
    }
  }

  async function search(ev) {
    ev.preventDefault();
    showError(null);
    try {
      const data = await tabApi("GET", `/search?text=${encodeURIComponent($("search-text").value)}`);
      chat.current = null;
      $("chat-room").hidden = true;
      $("members-box").hidden = true;
      $("chat-empty").hidden = true;
      $("search-box").hidden = false;
      $("search-none").hidden = data.messages.length > 0;
      $("search-results").replaceChildren(...data.messages.map((m) => {
        const li = messageItem(m, m.room);
        const r = roomState(m.room);
        const where = document.createElement("a");
        where.href = `#/room/${encodeURIComponent(guidOf(m.room))}`;
        where.textContent = r.name === r.uri ? "open the room" : r.name;
        li.querySelector(".meta").append(" in ", where);
        return li;
      }));
      renderRoomList();
    } catch (err) {
      showError(err);
    }
  }

  async function toggleFollow() {
    const r = roomState(chat.current);
    try {
      await tabApi("POST", "/follow", { room: r.uri, on: !r.followed });
      r.followed = !r.followed;
      renderRoom(r);
      say(r.followed ? `You follow ${r.name}.` : `You no longer follow ${r.name}.`);
    } catch (err) {
      showError(err);
    }
  }

  async function leave() {
    const r = roomState(chat.current);
    try {
      await tabApi("POST", "/part", { room: r.uri });
      if (r.followed) await tabApi("POST", "/follow", { room: r.uri, on: false });
      r.joined = false;
      r.listed = false;
      r.followed = false;
      r.messages.clear();
      r.olderDone = false;
      chat.current = null;
      say(`You left ${r.name}.`);
      location.hash = "#/";
    } catch (err) {
      showError(err);
    }
  }

  // --- start and stop ----------------------------------------------------------------------------------------------

  async function start() {
    chat.stopped = false;
    chat.tab = (await api("POST", "/api/chat/tabs", {})).tab;
    chat.lastEvent = 0;
    connect();
    const assoc = await tabApi("GET", "/assoc");
    for (const [list, key] of [[assoc.member, null], [assoc.manager, "manager"], [assoc.followed, null]])
      for (const room of list) {
        const r = roomState(room.uri);
        r.name = room.name;
        r.topic = room.topic;
        r.listed = true;
        r.followed = r.followed || room.followed;
        if (key) r.manager = true;
      }
    // Followed rooms are joined at once, as a SIP client rejoins them: their new posts then count as unread.
    // One at a time: each join waits for the session, and the server limits how many may wait at once.
    for (const r of [...chat.rooms.values()].filter((x) => x.followed)) await joinRoom(r).catch(() => {});
    const inv = await tabApi("GET", "/invitations");
    for (const i of inv.invitations) chat.invitations.set(i.id, i);
    renderInvitations();
    renderRoomList();
  }

  function stop() {
    chat.stopped = true;
    if (chat.source) chat.source.close();
    chat.source = null;
    if (chat.tab) fetch(`/api/chat/tabs/${chat.tab}`, { method: "DELETE", headers: { "X-CSRF-Token": me?.csrf || "" },
                                                         keepalive: true }).catch(() => {});
    chat.tab = null;
    chat.starting = null;
    chat.rooms.clear();
    chat.invitations.clear();
    chat.current = null;
  }

  // Shows the chat, and the room `guid` when given.
  async function show(guid) {
    if (!chat.starting) chat.starting = start().catch((err) => { chat.starting = null; throw err; });
    await chat.starting;
    if (!guid) {
      showNoRoom();
      renderRoomList();
      return;
    }
    guid = guid.toLowerCase(); // GUIDs are case-insensitive; the room's own URI is the one its events carry
    const known = [...chat.rooms.keys()].find((uri) => guidOf(uri).toLowerCase() === guid);
    await openRoom(known || `ma-chan://${me.domain}/${guid}`);
  }

  $("chat-compose").addEventListener("submit", (ev) => {
    ev.preventDefault();
    post();
  });
  $("chat-text").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      post();
    }
  });
  $("chat-upload").addEventListener("click", upload);
  $("chat-older").addEventListener("click", () => loadOlder(roomState(chat.current), true).catch(showError));
  $("chat-follow").addEventListener("click", toggleFollow);
  $("chat-leave").addEventListener("click", leave);
  $("find-form").addEventListener("submit", find);
  $("search-form").addEventListener("submit", search);
  // A network change or a sleeping laptop: drop the stream, and resume after the last event once back.
  window.addEventListener("offline", () => {
    if (chat.source) chat.source.close();
  });
  window.addEventListener("online", () => {
    if (chat.tab && !chat.stopped) connect();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && chat.current) {
      renderRoom(roomState(chat.current));
      markRead(roomState(chat.current));
      renderRoomList();
    }
  });
  window.addEventListener("pagehide", () => {
    if (chat.tab) fetch(`/api/chat/tabs/${chat.tab}`, { method: "DELETE", headers: { "X-CSRF-Token": me?.csrf || "" },
                                                         keepalive: true }).catch(() => {});
  });

  window.pchatChat = { show, stop };
  route();
})();
