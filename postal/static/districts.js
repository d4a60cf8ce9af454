/* The districts page: draw the office's districts (and a checked file's) on the map, colour the
 * table's swatches to match, and refuse a file over the upload limit before sending it (the map
 * with map.js). */
(function () {
  "use strict";

  var COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f"];

  function colour(index) {
    return COLOURS[index % COLOURS.length];
  }

  function drawMap(holder, data) {
    var drawn = L.featureGroup();
    data.districts.forEach(function (district, index) {
      L.geoJSON(district.geometry, {
        style: { color: colour(index), weight: 2, fillColor: colour(index), fillOpacity: 0.25 }
      }).bindTooltip(WelfareMap.text(district.label)).addTo(drawn);
    });
    data.checked.forEach(function (district) {
      L.geoJSON(district.geometry, {
        style: { color: "#111827", weight: 2, dashArray: "6 4", fillOpacity: 0 }
      }).bindTooltip(WelfareMap.text(district.label)).addTo(drawn);
    });
    WelfareMap.depot(data.depot, holder.dataset.depotLabel).addTo(drawn);
    // The depot alone has no extent: show the streets around it rather than one point.
    WelfareMap.show(holder, drawn, data.tiles, { maxZoom: 15 });
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
  if (holder && window.L && window.WelfareMap) {
    drawMap(holder, JSON.parse(document.getElementById("districts-map-data").textContent));
  }
  var file = document.getElementById("file");
  if (file && file.dataset.maxBytes) {
    limitSize(file);
  }
})();
