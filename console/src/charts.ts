// Charts, drawn by Apache ECharts (only the parts the console uses, rendered as SVG). Each
// chart has a text alternative: its figure's caption, and the numbers in a table beside it.
import * as echarts from "echarts/core";
import { BarChart, HeatmapChart, LineChart, TreemapChart } from "echarts/charts";
import {
  AriaComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import { SVGRenderer } from "echarts/renderers";
import { h } from "./dom";

echarts.use([
  BarChart,
  HeatmapChart,
  LineChart,
  TreemapChart,
  AriaComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
  SVGRenderer,
]);

/** A figure with a chart of `option` and a caption; the chart follows its box's width. */
export function chart(caption: string, option: echarts.EChartsCoreOption, id: string): HTMLElement {
  const box = h("div", { class: "chart", role: "img", "aria-label": caption });
  const figure = h("figure", { class: "figure", id }, box, h("figcaption", {}, caption));
  // Drawn once the figure is in the document, so it has a width to fill.
  requestAnimationFrame(() => {
    if (!box.isConnected) return;
    const c = echarts.init(box, undefined, { renderer: "svg" });
    c.setOption({ aria: { enabled: true }, animation: false, ...option });
    // Redrawn whenever its box changes size: a narrower window, or a grid that reflows.
    const sized = new ResizeObserver(() => c.resize());
    sized.observe(box);
    new MutationObserver((_, observer) => {
      if (!box.isConnected) {
        sized.disconnect();
        c.dispose();
        observer.disconnect();
      }
    }).observe(document.body, { childList: true, subtree: true });
  });
  return figure;
}
