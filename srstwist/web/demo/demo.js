// srstwist demo page: lists the live streams from the HTTP API
// (/api/v1/streams/, on this host's port 1985 unless ?api=BASE) and plays
// one from this HTTP server in HTTP-FLV (flv.js), WebSocket-FLV (mpegts.js)
// or HLS (hls.js or native).  Names come from publishers: text only.
"use strict";

(function () {
  var params = new URLSearchParams(location.search);
  var api = (params.get("api") || location.protocol + "//" + location.hostname + ":1985")
    .replace(/\/+$/, "");
  var current = null;
  var player = null;
  var hls = null;

  function $(id) {
    return document.getElementById(id);
  }

  function streamPath(s) {
    return "/" + s.app + "/" + s.name;
  }

  function stop() {
    if (player) {
      player.destroy();
      player = null;
    }
    if (hls) {
      hls.destroy();
      hls = null;
    }
    var video = $("video");
    video.removeAttribute("src");
    video.load();
  }

  function play(s) {
    current = s;
    stop();
    var video = $("video");
    var format = $("format").value;
    var path = streamPath(s);
    var note = $("player-note");
    note.textContent = "";
    $("player-title").textContent = "Playing " + s.app + "/" + s.name;
    var url;
    if (format === "hls") {
      url = location.origin + path + ".m3u8";
      if (window.Hls && window.Hls.isSupported()) {
        hls = new window.Hls();
        hls.loadSource(url);
        hls.attachMedia(video);
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        video.src = url;
      } else {
        note.textContent = "This browser cannot play HLS.";
      }
    } else {
      url = format === "wsflv"
        ? location.origin.replace(/^http/, "ws") + path + ".flv"
        : location.origin + path + ".flv";
      var lib = format === "wsflv" ? window.mpegts : window.flvjs;
      if (lib && lib.isSupported()) {
        player = lib.createPlayer({type: "flv", isLive: true, url: url});
        player.attachMediaElement(video);
        player.load();
      } else {
        note.textContent = "This browser has no Media Source Extensions.";
      }
    }
    $("url").textContent = url;
    video.play().catch(function () {});
    render(lastStreams);
  }

  var lastStreams = [];

  function render(streams) {
    var list = $("streams");
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    if (!streams.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No live stream yet.";
      list.appendChild(empty);
      return;
    }
    streams.forEach(function (s) {
      var item = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = s.app + "/" + s.name + " (" + s.clients + " clients, "
        + s.kbps.recv_30s + " kbps)";
      if (current && current.app === s.app && current.name === s.name) {
        b.className = "current";
      }
      b.addEventListener("click", function () {
        play(s);
      });
      item.appendChild(b);
      list.appendChild(item);
    });
  }

  function refresh() {
    fetch(api + "/api/v1/streams/", {cache: "no-store"}).then(function (response) {
      return response.json();
    }).then(function (body) {
      lastStreams = (body.streams || []).filter(function (s) {
        return s.publish && s.publish.active;
      });
      $("status").textContent = "";
      render(lastStreams);
      if (!current && lastStreams.length) {
        var wanted = params.get("play");
        var first = lastStreams.filter(function (s) {
          return !wanted || s.app + "/" + s.name === wanted;
        })[0];
        if (first) {
          play(first);
        }
      }
    }).catch(function (error) {
      $("status").textContent = "The HTTP API at " + api + " did not answer (" + error
        + "); start the server with http_api enabled, or open this page with ?api=http://host:port.";
    });
  }

  function start() {
    $("publish-command").textContent = "ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=25 "
      + "-f lavfi -i sine -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a aac "
      + "-f flv rtmp://" + location.hostname + "/live/livestream";
    $("console-link").href = api + "/console/";
    $("console-link").textContent = api + "/console/";
    if (params.get("format")) {
      $("format").value = params.get("format");
    }
    $("format").addEventListener("change", function () {
      if (current) {
        play(current);
      }
    });
    $("video").addEventListener("timeupdate", function () {
      var video = $("video");
      document.body.setAttribute("data-played", video.currentTime.toFixed(1));
      if (video.getVideoPlaybackQuality) {
        document.body.setAttribute("data-frames",
          String(video.getVideoPlaybackQuality().totalVideoFrames));
      }
    });
    refresh();
    setInterval(refresh, 5000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
