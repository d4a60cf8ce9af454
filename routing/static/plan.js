/* The plan page: follow the solver's progress, colour the route swatches, draw the map
 * (with map.js). */
(function () {
  "use strict";

  function followProgress(bar, badge) {
    function poll() {
      fetch(bar.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (state) {
          if (state.status !== "queued" && state.status !== "solving" && !state.search) {
            window.location.reload();
            return;
          }
          if (badge) {
            badge.textContent = state.label;
          }
          bar.value = state.progress || 0;
          bar.textContent = bar.value + "%";
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, 1000);
  }

  var latLng = window.WelfareMap && window.WelfareMap.latLng;

  function numbered(number, colour) {
    var label = document.createElement("span");
    label.textContent = String(number);
    label.style.backgroundColor = colour;
    return L.divIcon({ className: "stop-number", html: label, iconSize: [24, 24] });
  }

  function drawMap(holder, data) {
    var drawn = L.featureGroup();
    data.districts.forEach(function (district) {
      L.geoJSON(district.geometry, {
        style: { color: "#64748b", weight: 1.5, fillColor: "#94a3b8", fillOpacity: 0.12 }
      }).bindTooltip(WelfareMap.text(district.name)).addTo(drawn);
    });
    var depot = latLng(data.depot);
    WelfareMap.depot(data.depot, holder.dataset.depotLabel).addTo(drawn);
    data.routes.forEach(function (route) {
      var points = route.stops.map(function (stop) { return latLng(stop.location); });
      if (!points.length) {
        return;
      }
      L.polyline([depot].concat(points, [depot]), { color: route.colour, weight: 4, opacity: 0.85 })
        .bindTooltip(WelfareMap.text(route.carrier))
        .addTo(drawn);
      route.stops.forEach(function (stop, index) {
        L.marker(latLng(stop.location), { icon: numbered(index + 1, route.colour), keyboard: false })
          .bindTooltip(WelfareMap.text(route.carrier + " " + (index + 1) + ": " + stop.label))
          .addTo(drawn);
      });
    });
    data.unassigned.forEach(function (stop) {
      L.circleMarker(latLng(stop.location), { radius: 6, color: "#b00020", dashArray: "2 3" })
        .bindTooltip(WelfareMap.text(stop.label))
        .addTo(drawn);
    });
    WelfareMap.show(holder, drawn, data.tiles);
  }

  var bar = document.getElementById("plan-progress");
  if (bar) {
    followProgress(bar, document.querySelector("#plan-title .badge"));
  }
  document.querySelectorAll(".swatch[data-colour]").forEach(function (swatch) {
    swatch.style.backgroundColor = swatch.dataset.colour;
  });
  var holder = document.getElementById("plan-map");
  if (holder && window.L && window.WelfareMap) {
    drawMap(holder, JSON.parse(document.getElementById("plan-map-data").textContent));
  }
})();
