// srstwist web console.
//
// Reads /api/v1/vhosts/, /api/v1/streams/ and /api/v1/clients/ from the
// origin that served this page, renders three tables, refreshes them on a
// timer, kicks a client with DELETE /api/v1/clients/<id>, filters the tables
// with the search box, plots the last minutes (kbps in/out per stream,
// clients) on canvas from each refresh, and plays a chosen stream: HTTP-FLV
// with flv.js, WebSocket-FLV with mpegts.js, HLS with hls.js (or natively),
// all vendored next to this file.  Everything the server reports (stream names, tcUrls, ...) comes
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
  var wsPlayer = null;
  // Plot history: at most HISTORY points, PLOT_STREAMS streams drawn.
  var HISTORY = 180;
  var PLOT_STREAMS = 8;
  var COLORS = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#6d4c41",
                "#546e7a"];
  var history = {times: [], clients: [], streams: {}};

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

  // ?play=app/stream (with ?http=BASE and ?format=flv|wsflv|hls) starts playing
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

  // -- search ----------------------------------------------------------------

  function applySearch() {
    var words = $("search").value.trim().toLowerCase();
    ["streams", "clients"].forEach(function (id) {
      Array.prototype.forEach.call($(id).tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        row.className = !words || text.indexOf(words) >= 0 ? "" : "hidden";
      });
    });
  }

  // -- plots -----------------------------------------------------------------

  function record(streams, clientCount) {
    var now = Date.now();
    history.times.push(now);
    history.clients.push(clientCount);
    var seen = {};
    streams.forEach(function (s) {
      var key = (vhostNames[s.vhost] || s.vhost) + "/" + s.app + "/" + s.name;
      seen[key] = true;
      var series = history.streams[key];
      if (!series) {
        series = history.streams[key] = {recv: [], send: [], times: []};
      }
      series.times.push(now);
      series.recv.push(s.kbps.recv_30s);
      series.send.push(s.kbps.send_30s);
    });
    var oldest = history.times.length > HISTORY ? history.times[history.times.length - HISTORY] : 0;
    history.times = history.times.slice(-HISTORY);
    history.clients = history.clients.slice(-HISTORY);
    Object.keys(history.streams).forEach(function (key) {
      var series = history.streams[key];
      while (series.times.length && series.times[0] < oldest) {
        series.times.shift();
        series.recv.shift();
        series.send.shift();
      }
      // A stream gone from the API and out of the window is forgotten.
      if (!seen[key] && !series.times.length) {
        delete history.streams[key];
      }
    });
  }

  function axes(ctx, canvas, top, label) {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#ccc";
    ctx.fillStyle = "#555";
    ctx.font = "11px sans-serif";
    ctx.beginPath();
    ctx.moveTo(40, 8);
    ctx.lineTo(40, canvas.height - 16);
    ctx.lineTo(canvas.width - 4, canvas.height - 16);
    ctx.stroke();
    ctx.fillText(String(top), 2, 14);
    ctx.fillText("0", 2, canvas.height - 16);
    ctx.fillText(label, 44, canvas.height - 3);
  }

  function line(ctx, canvas, times, values, top, color, dashed) {
    var t0 = history.times[0];
    var span = Math.max(1, history.times[history.times.length - 1] - t0);
    var width = canvas.width - 46;
    var height = canvas.height - 26;
    ctx.strokeStyle = color;
    ctx.setLineDash(dashed ? [4, 3] : []);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach(function (v, i) {
      var x = 42 + width * (times[i] - t0) / span;
      var y = 8 + height - height * v / top;
      if (i === 0) {
        ctx.moveTo(x, y);
      } else {
        ctx.lineTo(x, y);
      }
    });
    ctx.stroke();
    ctx.setLineDash([]);
  }

  // The smallest of 1, 2, 5 times a power of ten that is at least max.
  function niceTop(max) {
    var power = Math.pow(10, Math.floor(Math.log10(Math.max(1, max))));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= max) {
        return steps[i] * power;
      }
    }
    return 10 * power;
  }

  function minutesLabel() {
    var span = history.times.length
      ? (history.times[history.times.length - 1] - history.times[0]) / 60000 : 0;
    return "last " + span.toFixed(1) + " min";
  }

  function drawPlots() {
    var kbps = $("plot-kbps");
    var ctx = kbps.getContext("2d");
    var keys = Object.keys(history.streams).sort(function (a, b) {
      var sa = history.streams[a], sb = history.streams[b];
      return (sb.recv[sb.recv.length - 1] || 0) - (sa.recv[sa.recv.length - 1] || 0);
    }).slice(0, PLOT_STREAMS);
    var max = 1;
    keys.forEach(function (key) {
      var series = history.streams[key];
      series.recv.concat(series.send).forEach(function (v) {
        max = Math.max(max, v);
      });
    });
    var top = niceTop(max);
    axes(ctx, kbps, top, minutesLabel());
    var legend = $("plot-kbps-legend");
    while (legend.firstChild) {
      legend.removeChild(legend.firstChild);
    }
    var points = 0;
    keys.forEach(function (key, i) {
      var series = history.streams[key];
      var color = COLORS[i % COLORS.length];
      line(ctx, kbps, series.times, series.recv, top, color, false);
      line(ctx, kbps, series.times, series.send, top, color, true);
      points += series.times.length;
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.style.background = color;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(
        key + ": " + series.recv[series.recv.length - 1] + " in, "
        + series.send[series.send.length - 1] + " out"));
      legend.appendChild(item);
    });
    kbps.setAttribute("data-points", String(points));
    var clients = $("plot-clients");
    var cctx = clients.getContext("2d");
    var cmax = niceTop(Math.max.apply(null, [1].concat(history.clients)));
    axes(cctx, clients, cmax, minutesLabel());
    line(cctx, clients, history.times, history.clients, cmax, "#1e88e5", false);
    clients.setAttribute("data-points", String(history.clients.length));
    clients.setAttribute("data-last", String(history.clients[history.clients.length - 1]));
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
      applySearch();
      var total = 0;
      bodies[0].streams.forEach(function (s) {
        total += s.clients;
      });
      record(bodies[0].streams, total);
      drawPlots();
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
      wsflv: httpBase().replace(/^http/, "ws") + path + ".flv",
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
    if (wsPlayer) {
      wsPlayer.destroy();
      wsPlayer = null;
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
    ["rtmp", "flv", "wsflv", "hls"].forEach(function (kind) {
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
        note.textContent = "This browser has no Media Source Extensions for flv.js; "
          + "open the HTTP-FLV URL in a player such as ffplay or VLC.";
      }
      return;
    }
    if ($("format").value === "wsflv") {
      if (window.mpegts && window.mpegts.isSupported()) {
        wsPlayer = window.mpegts.createPlayer({type: "flv", isLive: true, url: urls.wsflv});
        wsPlayer.attachMediaElement(video);
        wsPlayer.load();
        video.play().catch(function () {});
      } else {
        note.textContent = "This browser has no Media Source Extensions for mpegts.js.";
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
      note.textContent = "This browser plays HLS neither natively nor with hls.js "
        + "(no Media Source Extensions); open the HLS URL in a player.";
    }
  }

  function start() {
    $("http-base").value = params.get("http")
      || location.protocol + "//" + location.hostname + ":8080";
    if (params.get("format")) {
      $("format").value = params.get("format");
    }
    if (params.get("interval")) {
      $("interval").value = params.get("interval");
    }
    // How far playback got, for people and for the headless-browser test.
    $("video").addEventListener("timeupdate", function () {
      var video = $("video");
      document.body.setAttribute("data-played", video.currentTime.toFixed(1));
      if (video.getVideoPlaybackQuality) {
        document.body.setAttribute("data-frames",
          String(video.getVideoPlaybackQuality().totalVideoFrames));
      }
    });
    $("interval").addEventListener("change", schedule);
    $("refresh").addEventListener("click", refresh);
    $("format").addEventListener("change", function () {
      if (current) {
        play(current);
      }
    });
    $("search").addEventListener("input", applySearch);
    refresh();
    schedule();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
