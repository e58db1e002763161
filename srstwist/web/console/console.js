// srstwist web console.
//
// Reads /api/v1/vhosts/, /api/v1/streams/ and /api/v1/clients/ from the
// origin that served this page, renders three tables, refreshes them on a
// timer, kicks a client with DELETE /api/v1/clients/<id>, and plays a chosen
// stream (HTTP-FLV with the vendored flv.js, HLS with hls.js if present or
// natively).  Everything the server reports (stream names, tcUrls, ...) comes
// from publishers and players, so it is only ever put into the page as text
// (textContent), never as HTML.
"use strict";

(function () {
  var API = "/api/v1/";
  var DEFAULT_VHOST = "__defaultVhost__";
  var timer = null;
  var vhostNames = {};
  var current = null; // the stream being played: {vhost, app, name}
  var flvPlayer = null;
  var hlsPlayer = null;

  function $(id) {
    return document.getElementById(id);
  }

  function getJson(path) {
    return fetch(API + path, {cache: "no-store"}).then(function (response) {
      if (!response.ok) {
        throw new Error(path + ": HTTP " + response.status);
      }
      return response.json();
    }).then(function (body) {
      if (body.code !== 0) {
        throw new Error(path + ": code " + body.code);
      }
      return body;
    });
  }

  function cell(row, value) {
    var td = document.createElement("td");
    td.textContent = value === undefined || value === null ? "" : String(value);
    row.appendChild(td);
    return td;
  }

  function button(row, label, onClick) {
    var td = document.createElement("td");
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", onClick);
    td.appendChild(b);
    row.appendChild(td);
    return b;
  }

  function fill(tableId, items, columns, render) {
    var body = $(tableId).tBodies[0];
    while (body.firstChild) {
      body.removeChild(body.firstChild);
    }
    if (!items.length) {
      var row = body.insertRow();
      var td = cell(row, "none");
      td.colSpan = columns;
      td.className = "empty";
      return;
    }
    items.forEach(function (item) {
      render(body.insertRow(), item);
    });
  }

  function videoText(video) {
    return video ? video.codec + " " + video.profile + " " + video.level : "";
  }

  function audioText(audio) {
    return audio
      ? audio.codec + " " + audio.profile + " " + audio.sample_rate + "Hz " + audio.channel + "ch"
      : "";
  }

  function seconds(ms) {
    return (ms / 1000).toFixed(0) + " s";
  }

  function renderVhosts(vhosts) {
    vhostNames = {};
    vhosts.forEach(function (v) {
      vhostNames[v.id] = v.name;
    });
    fill("vhosts", vhosts, 8, function (row, v) {
      cell(row, v.id);
      cell(row, v.name);
      cell(row, v.enabled ? "yes" : "no");
      cell(row, v.clients);
      cell(row, v.streams);
      cell(row, v.kbps.recv_30s);
      cell(row, v.kbps.send_30s);
      cell(row, v.hls.enabled ? "on (" + v.hls.fragment + " s)" : "off");
    });
  }

  // ?play=app/stream (with ?http=BASE and ?format=flv|hls) starts playing
  // that stream as soon as it is listed: links from elsewhere, and tests.
  var params = new URLSearchParams(location.search);
  var autoplay = params.get("play");

  function renderStreams(streams) {
    if (autoplay && !current) {
      streams.forEach(function (s) {
        if (s.publish.active && s.app + "/" + s.name === autoplay) {
          autoplay = null;
          play({vhost: vhostNames[s.vhost] || DEFAULT_VHOST, app: s.app, name: s.name});
        }
      });
    }
    fill("streams", streams, 12, function (row, s) {
      cell(row, s.id);
      cell(row, vhostNames[s.vhost] || s.vhost);
      cell(row, s.app);
      cell(row, s.name).className = "stream-name";
      cell(row, s.publish.active ? "yes (client " + s.publish.cid + ")" : "no");
      cell(row, videoText(s.video));
      cell(row, audioText(s.audio));
      cell(row, s.kbps.recv_30s);
      cell(row, s.kbps.send_30s);
      cell(row, s.clients);
      cell(row, s.frames);
      button(row, "play", function () {
        play({vhost: vhostNames[s.vhost] || DEFAULT_VHOST, app: s.app, name: s.name});
      }).disabled = !s.publish.active;
    });
  }

  function renderClients(clients) {
    fill("clients", clients, 7, function (row, c) {
      cell(row, c.id);
      cell(row, c.ip);
      cell(row, c.type);
      cell(row, c.url);
      cell(row, c.tcUrl);
      cell(row, seconds(c.alive));
      button(row, "kick", function () {
        kick(c.id);
      });
    });
  }

  function setStatus(text, isError) {
    var status = $("status");
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  function refresh() {
    // Vhosts first: the stream table shows vhost names.
    return getJson("vhosts/").then(function (body) {
      $("server").textContent = "server " + body.server;
      renderVhosts(body.vhosts);
      return Promise.all([getJson("streams/"), getJson("clients/")]);
    }).then(function (bodies) {
      renderStreams(bodies[0].streams);
      renderClients(bodies[1].clients);
      setStatus("updated " + new Date().toLocaleTimeString(), false);
    }).catch(function (error) {
      setStatus(String(error), true);
    });
  }

  function kick(id) {
    fetch(API + "clients/" + encodeURIComponent(id), {method: "DELETE"})
      .then(function (response) {
        return response.json();
      }).then(function (body) {
        setStatus(body.code === 0 ? "kicked client " + id : "kick " + id + ": code " + body.code,
                  body.code !== 0);
        return refresh();
      }).catch(function (error) {
        setStatus(String(error), true);
      });
  }

  function schedule() {
    if (timer !== null) {
      clearInterval(timer);
      timer = null;
    }
    var every = parseInt($("interval").value, 10);
    if (every > 0) {
      timer = setInterval(refresh, every);
    }
  }

  // -- player ----------------------------------------------------------------

  function httpBase() {
    var base = $("http-base").value.trim();
    return base.replace(/\/+$/, "");
  }

  function streamUrls(stream) {
    var query = stream.vhost === DEFAULT_VHOST ? "" : "?vhost=" + encodeURIComponent(stream.vhost);
    var path = "/" + stream.app + "/" + stream.name;
    return {
      rtmp: "rtmp://" + location.hostname + path + query,
      flv: httpBase() + path + ".flv",
      hls: httpBase() + path + ".m3u8"
    };
  }

  function stopPlayers() {
    if (flvPlayer) {
      flvPlayer.destroy();
      flvPlayer = null;
    }
    if (hlsPlayer) {
      hlsPlayer.destroy();
      hlsPlayer = null;
    }
    var video = $("video");
    video.removeAttribute("src");
    video.load();
  }

  function play(stream) {
    current = stream;
    stopPlayers();
    var urls = streamUrls(stream);
    var list = $("player-urls");
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    ["rtmp", "flv", "hls"].forEach(function (kind) {
      var item = document.createElement("li");
      item.textContent = kind + ": " + urls[kind];
      list.appendChild(item);
    });
    $("player-title").textContent = "Playing " + stream.app + "/" + stream.name;
    var video = $("video");
    var note = $("player-note");
    note.textContent = "";
    if ($("format").value === "flv") {
      if (window.flvjs && window.flvjs.isSupported()) {
        flvPlayer = window.flvjs.createPlayer({type: "flv", isLive: true, url: urls.flv});
        flvPlayer.attachMediaElement(video);
        flvPlayer.load();
        video.play().catch(function () {});
      } else {
        note.textContent = "flv.js is not loaded (put flv.min.js next to index.html); "
          + "open the HTTP-FLV URL in a player such as ffplay or VLC.";
      }
      return;
    }
    if (window.Hls && window.Hls.isSupported()) {
      hlsPlayer = new window.Hls();
      hlsPlayer.loadSource(urls.hls);
      hlsPlayer.attachMedia(video);
      video.play().catch(function () {});
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = urls.hls;
      video.play().catch(function () {});
    } else {
      note.textContent = "This browser does not play HLS natively and hls.js is not loaded "
        + "(put hls.min.js next to index.html); open the HLS URL in a player.";
    }
  }

  // Optional players: loaded only when someone put them next to the page.
  function loadOptional(src) {
    var script = document.createElement("script");
    script.src = src;
    script.async = true;
    script.onerror = function () {
      script.parentNode.removeChild(script);
    };
    document.head.appendChild(script);
  }

  function start() {
    $("http-base").value = params.get("http")
      || location.protocol + "//" + location.hostname + ":8080";
    if (params.get("format")) {
      $("format").value = params.get("format");
    }
    // How far playback got, for people and for the headless-browser test.
    $("video").addEventListener("timeupdate", function () {
      document.body.setAttribute("data-played", $("video").currentTime.toFixed(1));
    });
    $("interval").addEventListener("change", schedule);
    $("refresh").addEventListener("click", refresh);
    $("format").addEventListener("change", function () {
      if (current) {
        play(current);
      }
    });
    loadOptional("flv.min.js");
    loadOptional("hls.min.js");
    refresh();
    schedule();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
