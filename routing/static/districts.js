/* The districts page: draw the office's districts (and a checked file's) on the map, colour the
 * table's swatches to match, and refuse a file over the upload limit before sending it.
 * Served by the app; Leaflet comes from /static/leaflet/ (XStatic-Leaflet). The base map's
 * tiles are requested only when the server names a tile URL. */
(function () {
  "use strict";

  var COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f"];

  function colour(index) {
    return COLOURS[index % COLOURS.length];
  }

  function drawMap(holder, data) {
    // Layers are gathered first: Leaflet can only draw them once the map has a view.
    var drawn = L.featureGroup();
    data.districts.forEach(function (district, index) {
      L.geoJSON(district.geometry, {
        style: { color: colour(index), weight: 2, fillColor: colour(index), fillOpacity: 0.25 }
      }).bindTooltip(district.label).addTo(drawn);
    });
    data.checked.forEach(function (district) {
      L.geoJSON(district.geometry, {
        style: { color: "#111827", weight: 2, dashArray: "6 4", fillOpacity: 0 }
      }).bindTooltip(district.label).addTo(drawn);
    });
    L.circleMarker([data.depot[1], data.depot[0]],
      { radius: 8, color: "#111827", fillColor: "#fff", fillOpacity: 1 })
      .bindTooltip(holder.dataset.depotLabel || "")
      .addTo(drawn);
    var map = L.map(holder, { attributionControl: Boolean(data.tiles.url) });
    // The depot alone has no extent: show the streets around it rather than one point.
    map.fitBounds(drawn.getBounds().pad(0.05), { maxZoom: 15 });
    if (data.tiles.url) {
      L.tileLayer(data.tiles.url, { attribution: data.tiles.attribution, maxZoom: 19 }).addTo(map);
    }
    drawn.addTo(map);
    holder.dataset.ready = "true";
  }

  function limitSize(input) {
    var limit = Number(input.dataset.maxBytes);
    input.addEventListener("change", function () {
      var file = input.files[0];
      input.setCustomValidity(file && file.size > limit ? input.dataset.tooLarge : "");
      input.reportValidity();
    });
  }

  document.querySelectorAll(".swatch[data-index]").forEach(function (swatch) {
    swatch.style.backgroundColor = colour(Number(swatch.dataset.index));
  });
  var holder = document.getElementById("districts-map");
  if (holder && window.L) {
    drawMap(holder, JSON.parse(document.getElementById("districts-map-data").textContent));
  }
  var file = document.getElementById("file");
  if (file && file.dataset.maxBytes) {
    limitSize(file);
  }
})();
