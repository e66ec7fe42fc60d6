package bench

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Colours of the methods in the plot.
var methodColor = map[string]color.Color{
	MethodRejoin: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	MethodManual: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// Plot draws heal time against data size, one panel per etcd version and
// member count: each method's median as a line, every heal as a dot.
func Plot(res *Results) ([]byte, error) {
	gs := groups(res.Cells)
	if len(gs) == 0 {
		return nil, fmt.Errorf("no heal cells to plot")
	}
	cols := min(2, len(gs))
	rows := (len(gs) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, g := range gs {
		p, err := panel(g)
		if err != nil {
			return nil, err
		}
		plots[i/cols][i%cols] = p
	}
	img := vgimg.New(vg.Length(cols)*11*vg.Centimeter, vg.Length(rows)*8*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter * 5, PadBottom: vg.Millimeter * 5, PadLeft: vg.Millimeter * 5, PadRight: vg.Millimeter * 5}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j, p := range plots[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render the plot: %w", err)
	}
	return buf.Bytes(), nil
}

// panel plots one version and member count.
func panel(cells []Cell) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("etcd %s, %d members: heal of a wiped member", cells[0].Version, cells[0].Members)
	p.X.Label.Text = "data (MB)"
	p.Y.Label.Text = "time to heal (s, log scale)"
	// A log scale keeps a heal that took minutes from flattening the rest;
	// the room above the highest dot is the legend's.
	lo, hi := yRange(cells)
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = lo/2, hi*6
	p.Legend.Top, p.Legend.Left = true, true
	var ticks []plot.Tick
	for _, c := range cells {
		ticks = append(ticks, plot.Tick{Value: float64(c.SizeMB), Label: fmt.Sprint(c.SizeMB)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	for _, method := range []string{MethodRejoin, MethodManual} {
		if err := addMethod(p, cells, method); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// yRange is the smallest and largest heal time in seconds, defaults when
// there is none.
func yRange(cells []Cell) (lo, hi float64) {
	var all []float64
	for _, c := range cells {
		for _, m := range []string{MethodRejoin, MethodManual} {
			for _, d := range c.totals(m) {
				all = append(all, d.Seconds())
			}
		}
	}
	lo, hi, ok := span(all)
	if !ok || lo <= 0 {
		return 0.1, 10
	}
	return lo, hi
}

func addMethod(p *plot.Plot, cells []Cell, method string) error {
	var medians, dots plotter.XYs
	hung := 0
	for _, c := range cells {
		x := float64(c.SizeMB)
		for _, d := range c.totals(method) {
			dots = append(dots, plotter.XY{X: x, Y: d.Seconds()})
		}
		// The median of the report's table: a size whose median round
		// hung has no point on the line.
		switch m, ok := medianOutcome(c.outcomes(method)); {
		case ok && m == never:
			hung++
		case ok:
			medians = append(medians, plotter.XY{X: x, Y: m.Seconds()})
		}
	}
	label := method + " (median)"
	if hung > 0 {
		label = fmt.Sprintf("%s (median; hung at %d of %d sizes)", method, hung, len(cells))
	}
	col := methodColor[method]
	if len(medians) > 0 {
		line, points, err := plotter.NewLinePoints(medians)
		if err != nil {
			return fmt.Errorf("plot %s: %w", method, err)
		}
		line.Color, points.Color = col, col
		line.Width = vg.Points(1.5)
		p.Add(line, points)
		p.Legend.Add(label, line, points)
	}
	if len(dots) > 0 {
		sc, err := plotter.NewScatter(dots)
		if err != nil {
			return fmt.Errorf("plot %s: %w", method, err)
		}
		sc.Color = col
		sc.Shape = draw.CircleGlyph{}
		sc.Radius = vg.Points(1.5)
		p.Add(sc)
		if len(medians) == 0 {
			p.Legend.Add(label, sc)
		}
	}
	return nil
}
