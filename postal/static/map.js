/* The routing pages' maps: the depot marker and showing gathered layers over the base map.
 * Served by the app; Leaflet comes from /static/leaflet/ (XStatic-Leaflet). The base map's
 * tiles are requested only when the server names a tile URL. */
(function () {
  "use strict";

  function latLng(location) {
    return [location[1], location[0]];
  }

  // Leaflet puts a string given to bindTooltip/bindPopup into the page as HTML: addresses,
  // names and labels go in as a node holding plain text, so markup in them stays text.
  function text(value) {
    var node = document.createElement("span");
    node.textContent = value == null ? "" : String(value);
    return node;
  }

  function depot(location, label) {
    return L.circleMarker(latLng(location),
      { radius: 8, color: "#111827", fillColor: "#fff", fillOpacity: 1 })
      .bindTooltip(text(label));
  }

  // Layers are gathered in `drawn` first: Leaflet can only draw them once the map has a view.
  function show(holder, drawn, tiles, fit) {
    var map = L.map(holder, { attributionControl: Boolean(tiles.url) });
    map.fitBounds(drawn.getBounds().pad(0.05), fit || {});
    if (tiles.url) {
      L.tileLayer(tiles.url, { attribution: tiles.attribution, maxZoom: 19 }).addTo(map);
    }
    drawn.addTo(map);
    holder.dataset.ready = "true";
  }

  window.WelfareMap = { latLng: latLng, text: text, depot: depot, show: show };
})();
